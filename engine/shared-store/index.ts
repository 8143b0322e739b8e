/**
 * Limits and usage shared by several Node-RED instances through Redis (SPEC §5).
 */
export {
  rateLimitOptions,
  tokenBucketOptions,
  scaleLimits,
  clusteredLimiterOptions,
  redisClientOptions,
  sharedLimiterId,
  FAIL_FAST_CLIENT_OPTIONS,
  type LimiterOptions,
  type RateLimits,
  type ClusteredLimiterParams,
} from './limiter-options';
export {
  RedisConnectionManager,
  acquireRedis,
  releaseRedis,
  closeClient,
  displayRedisUrl,
  type SharedStoreState,
  type RedisConnectionOptions,
} from './redis-connection';
export {
  SharedLimiter,
  type SharedLimiterOptions,
  type SharedLimiterState,
  type SharedJobOptions,
  type SharedLimiterCounts,
} from './shared-limiter';
export {
  ClusteredAccountLimiter,
  type ClusterSettings,
  type ClusterState,
  type ClusteredAccountLimiterOptions,
} from './clustered-account-limiter';
export { useSharedLedger, sharedLedgerUrl } from './shared-ledger';
