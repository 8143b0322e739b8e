/**
 * Bottleneck options for one provider account: the local limiter and its
 * clustered twin (bottleneck's `ioredis` datastore), built from the same limits
 * so an account behaves the same alone or shared by several Node-RED instances.
 */
import type Bottleneck from 'bottleneck';
import IORedis from 'ioredis';

/** Bottleneck accepts `heartbeatInterval` at runtime; its typings leave it out. */
export type LimiterOptions = { -readonly [K in keyof Bottleneck.ConstructorOptions]: Bottleneck.ConstructorOptions[K] } & { heartbeatInterval?: number };

export interface RateLimits {
  /** requests per minute; null/undefined/0 = unlimited */
  rpm?: number | null;
  /** concurrent requests; null/undefined/0 = unlimited */
  maxConcurrent?: number | null;
  /** length of a "minute" in ms (60000; smaller under a time-scaled simulator) */
  minuteMs?: number;
  /**
   * Share of the rate kept as slack against clock and network jitter (default 0.01,
   * and at least 100 ms per window: a request registered in the shared store reaches
   * the provider a little later, by a delay that varies). The refill interval is
   * stretched by this fraction.
   */
  margin?: number;
}

/** Absolute slack per rate window against the varying delay between start and arrival. */
const MIN_SLACK_MS = 100;

function positive(n: number | null | undefined): number | null {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null;
}

/**
 * Options of a limiter that never lets more than `rpm` requests start in ANY
 * sliding window of one minute, nor more than `maxConcurrent` run at once.
 *
 * A token bucket of capacity B refilled at rate r lets B + r requests through in a
 * sliding minute, so the bucket holds a small burst B (3 % of rpm, at least 1) and
 * refills at (rpm - B) per minute, stretched by `margin`. Sustained throughput is
 * about 96-97 % of rpm for rpm >= 30; lower for tiny rpm (rpm 5 -> 4 per minute),
 * because the first request of a minute must already count.
 */
export function rateLimitOptions(limits: RateLimits): LimiterOptions {
  const minuteMs = positive(limits.minuteMs) ?? 60_000;
  const margin = typeof limits.margin === 'number' && limits.margin >= 0 ? limits.margin : Math.max(0.01, MIN_SLACK_MS / minuteMs);
  const out: LimiterOptions = {};
  const mc = positive(limits.maxConcurrent);
  if (mc !== null) out.maxConcurrent = Math.floor(mc) || 1;
  const rpm = positive(limits.rpm);
  if (rpm !== null) {
    const r = Math.max(1, Math.floor(rpm));
    const burst = r === 1 ? 1 : Math.max(1, Math.floor(r * 0.03));
    const refillPerMinute = Math.max(1, r - burst);
    // r === 1: one token per (a bit more than) a minute and a capacity of 1.
    const interval = Math.ceil(((r === 1 ? minuteMs : minuteMs / refillPerMinute) * (1 + margin)));
    out.reservoir = burst;
    out.reservoirIncreaseInterval = interval;
    out.reservoirIncreaseAmount = 1;
    out.reservoirIncreaseMaximum = burst;
    // Refills are applied on the limiter's heartbeat (250 ms by default): keep it
    // well below the refill interval so time-scaled minutes still pace correctly.
    out.heartbeatInterval = Math.max(5, Math.min(250, Math.floor(interval / 4)));
  }
  return out;
}

/**
 * Scales limits down to a share of the account (0 < share <= 1), for the local
 * fallback of N instances (share = 1/N) while the shared store is unreachable.
 */
export function scaleLimits(options: LimiterOptions, share: number): LimiterOptions {
  if (!(share > 0) || share >= 1) return { ...options };
  const out: LimiterOptions = { ...options };
  if (positive(options.maxConcurrent)) out.maxConcurrent = Math.max(1, Math.floor((options.maxConcurrent as number) * share));
  if (positive(options.reservoirIncreaseInterval)) out.reservoirIncreaseInterval = Math.ceil((options.reservoirIncreaseInterval as number) / share);
  if (positive(options.reservoirIncreaseMaximum)) out.reservoirIncreaseMaximum = Math.max(1, Math.floor((options.reservoirIncreaseMaximum as number) * share));
  if (positive(options.reservoirRefreshAmount)) out.reservoirRefreshAmount = Math.max(1, Math.floor((options.reservoirRefreshAmount as number) * share));
  if (typeof options.reservoir === 'number') {
    const cap = out.reservoirIncreaseMaximum ?? out.reservoirRefreshAmount ?? Math.max(1, Math.floor(options.reservoir * share));
    out.reservoir = Math.min(options.reservoir, cap);
  }
  return out;
}

/** ioredis options from a redis:// or rediss:// URL (user, password, db, TLS). */
export function redisClientOptions(redisUrl: string): Record<string, unknown> {
  let u: URL;
  try {
    u = new URL(redisUrl);
  } catch {
    throw new Error('shared store: invalid Redis URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error('shared store: the Redis URL must start with redis:// or rediss://');
  const opts: Record<string, unknown> = {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
  };
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '') {
    const n = Number(db);
    if (!Number.isInteger(n) || n < 0) throw new Error('shared store: the Redis URL database must be a number');
    opts.db = n;
  }
  if (u.protocol === 'rediss:') opts.tls = {};
  return opts;
}

/** The Redis key id of an account's shared limiter. */
export function sharedLimiterId(accountId: string, keyPrefix = 'llm-router'): string {
  return `${keyPrefix}:${accountId}`;
}

/**
 * Fail-fast client behaviour for limiter connections: commands are never parked
 * in an offline queue (a job must not hang while Redis is away; the caller falls
 * back to its local limiter instead).
 */
export const FAIL_FAST_CLIENT_OPTIONS = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 2000,
} as const;

export interface ClusteredLimiterParams {
  redisUrl: string;
  accountId: string;
  rpm?: number | null;
  maxConcurrent?: number | null;
  minuteMs?: number;
  /** The local limiter's options, used verbatim for the limits when given (instead of rpm/maxConcurrent). */
  limits?: LimiterOptions;
  /** An existing bottleneck connection to share (then redisUrl only names the store). */
  connection?: Bottleneck.IORedisConnection;
  keyPrefix?: string;
}

/**
 * Bottleneck options for the account's clustered limiter: the same limits as the
 * local limiter, kept in Redis under a shared id so every instance using the
 * same id and store shares one reservoir and one concurrency count.
 * `clearDatastore: false`: a restarting instance must not reset its peers' counts.
 */
export function clusteredLimiterOptions(p: ClusteredLimiterParams): LimiterOptions {
  if (!p || typeof p.accountId !== 'string' || p.accountId === '') throw new Error('shared store: accountId is required');
  const limits = p.limits ? { ...p.limits } : rateLimitOptions({ rpm: p.rpm, maxConcurrent: p.maxConcurrent, minuteMs: p.minuteMs });
  const out: LimiterOptions = {
    ...limits,
    id: sharedLimiterId(p.accountId, p.keyPrefix),
    datastore: 'ioredis',
    clearDatastore: false,
  };
  if (p.connection) out.connection = p.connection;
  else {
    out.Redis = IORedis;
    out.clientOptions = { ...redisClientOptions(p.redisUrl), ...FAIL_FAST_CLIENT_OPTIONS };
  }
  return out;
}

/**
 * A token bucket for tokens per window (weights are tokens) that never lets more
 * than `tpm` tokens start in any sliding window: a quarter of the window's
 * allowance as burst (the largest single request it admits), the rest refilled
 * evenly (so burst + refills within any window <= tpm).
 */
export function tokenBucketOptions(tpm: number, windowMs = 60_000): LimiterOptions {
  const t = Math.max(1, Math.floor(tpm));
  const burst = Math.max(1, Math.floor(t * 0.25));
  const interval = Math.max(10, Math.floor(windowMs / 240));
  const points = Math.floor(windowMs / interval) + 1; // refills inside a closed window
  const amount = Math.max(1, Math.floor((t - burst) / points));
  return {
    reservoir: burst,
    reservoirIncreaseInterval: interval,
    reservoirIncreaseAmount: amount,
    reservoirIncreaseMaximum: burst,
    heartbeatInterval: Math.max(5, Math.min(250, Math.floor(interval / 2))),
  };
}
