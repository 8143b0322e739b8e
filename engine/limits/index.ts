/** Per-account limits: bottleneck (the limiter of record) made fast, start-or-refuse, sliding windows, pauses. */
export { FastBottleneck, type LimiterOptions } from './fast-bottleneck';
export {
  AccountLimiter,
  createLimiter,
  requestLimiterOptions,
  tokenLimiterOptions,
  type AccountLimits,
  type AccountLimiterOptions,
  type LimiterCounts,
  type NotStartedReason,
  type RunControl,
  type TryRunOptions,
  type TryRunResult,
} from './account-limiter';
