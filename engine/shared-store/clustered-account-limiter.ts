/**
 * The limiter of a provider account shared by several Node-RED instances through
 * Redis (SPEC §5): the same contract as AccountLimiter (start-or-refuse
 * `tryRun`, capacity hints and events, `pause` after a 429, counts), with
 * bottleneck's `ioredis` datastore as the limiter of record.
 *
 * What is shared (keys `b_<prefix>:<account id>_*`, bottleneck's own layout):
 *  - requests per window: a token bucket (`rateLimitOptions`: a 3 % burst plus an
 *    even refill, sized so that no sliding window ever holds more than `rpm`
 *    starts of all instances together; ~96 % of rpm sustained). A bucket, not
 *    the local sliding window of handed-back units, because an instance that dies
 *    never hands its units back;
 *  - concurrency: bottleneck's shared `running` count; every job is registered
 *    with an expiration (`jobExpirationMs`), so slots of a crashed instance free
 *    themselves;
 *  - tokens per window, when set: a second bucket (`tokenBucketOptions`, a
 *    quarter of the window as burst, the largest request it admits);
 *  - 429 pauses: `pause(ms)` is published to every instance on bottleneck's
 *    channel (each pauses for `ms` from receipt) and kept in a key with PX for
 *    instances that (re)join meanwhile.
 *
 * Start-or-refuse: a job is registered directly with bottleneck's atomic
 * `register` script (check and take in one step), never put in bottleneck's
 * local queue, so `tryRun` answers after one round trip: started, or refused.
 * Capacity events come from bottleneck's capacity messages (published on every
 * heartbeat and whenever a slot frees); `capacityHint()` is the last published
 * capacity minus what this instance took since (1 when older than a second, so a
 * waiting request probes).
 *
 * When Redis goes away (the connection drops, or a command fails), the limiter
 * switches to local limits at once: a local bucket with `fallbackShare` of the
 * account (default 1/instances last seen in Redis, else all of it), starting
 * EMPTY (the shared bucket may have been spent by all instances in the last
 * window) and counting this instance's requests still in flight against its
 * share of the concurrency. Nothing waits on Redis and no message is lost:
 * requests that cannot start now are refused as 'capacity' and the caller's
 * queue retries them. When Redis answers again the limiter rejoins; for
 * `rejoinSettleMs` every start must pass both the shared and the local bucket
 * (instances rejoin one by one), and requests still running get their slots
 * registered in Redis.
 */
import Bottleneck from 'bottleneck';
import IORedis from 'ioredis';
import { AccountLimiter, type AccountLimits, type LimiterCounts, type RunControl, type TryRunOptions, type TryRunResult } from '../limits/account-limiter';
import { FastBottleneck } from '../limits/fast-bottleneck';
import { clusteredLimiterOptions, rateLimitOptions, scaleLimits, sharedLimiterId, tokenBucketOptions, type LimiterOptions } from './limiter-options';
import { acquireRedis, releaseRedis, RedisConnectionManager, type RedisConnectionOptions, type SharedStoreState } from './redis-connection';

export type ClusterState = 'connecting' | 'connected' | 'local-fallback' | 'stopped';

export interface ClusterSettings {
  /** A Redis URL (one process-wide connection per URL) or a connection manager. */
  redis: string | RedisConnectionManager;
  /** The account id every instance shares (Redis keys `b_<keyPrefix>:<accountId>_*`). */
  accountId: string;
  keyPrefix?: string;
  /** Share of the account this instance may use while Redis is away (0 < share <= 1); default 1/instances last seen, else 1. */
  fallbackShare?: number | null;
  /** Wait for the first connection before using local limits (ms, default 2000); requests are refused ('capacity') meanwhile. */
  connectTimeoutMs?: number;
  /** Time allowed for bottleneck to join the store (ms, default 2000). */
  readyTimeoutMs?: number;
  /** Delay before rebuilding after a Redis error while the connection is up (ms, default 1000). */
  retryMs?: number;
  /** After rejoining, how long starts must also pass the local bucket (ms, default 6000). */
  rejoinSettleMs?: number;
  /** A registered request frees its shared slot after this long even if its instance died (ms, default 180 000). */
  jobExpirationMs?: number;
  /** A shared register/free answer slower than this counts as a Redis failure (ms, default 1000). */
  commandTimeoutMs?: number;
  /** Reconnect settings of the Redis connection, when this limiter opens it from a URL. */
  connection?: RedisConnectionOptions;
}

export interface ClusteredAccountLimiterOptions {
  limits: AccountLimits;
  cluster: ClusterSettings;
}

interface Slot {
  release(): void;
}

interface ClusterBackend {
  requests: Bottleneck;
  tokens: Bottleneck | null;
  connection: Bottleneck.IORedisConnection;
  dead: boolean;
}

interface FallbackBackend {
  requests: FastBottleneck;
  tokens: FastBottleneck | null;
  maxConcurrent: number | null;
  share: number;
  timer: NodeJS.Timeout | null;
}

interface RunningJob {
  slots: Slot[];
  shared: boolean;
  weight: number;
}

interface StoreLike {
  __register__(index: string, weight: number, expiration: number | null): Promise<{ success: boolean; wait: number; reservoir: number | null }>;
  __free__(index: string, weight: number): Promise<unknown>;
}

const noop = (): void => undefined;
const STALE_MS = 1000;

function positiveInt(n: unknown): number | null {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.max(1, Math.floor(n)) : null;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`shared store: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Takes one local slot (start-or-refuse on a FastBottleneck with highWater 0); null when it cannot start now. */
function acquireLocal(l: FastBottleneck, weight: number, priority?: number): Promise<Slot | null> {
  return new Promise((resolve) => {
    let started = false;
    let release: () => void = noop;
    const held = new Promise<void>((r) => (release = r));
    l.schedule({ weight, ...(priority !== undefined ? { priority } : {}) }, () => {
      started = true;
      resolve({ release });
      return held;
    }).catch(() => {
      if (!started) resolve(null);
    });
  });
}

export class ClusteredAccountLimiter extends AccountLimiter {
  /** bottleneck id of the shared limiter (`<prefix>:<account id>`) */
  readonly sharedId: string;
  private readonly accountKey: string;
  private _state: ClusterState = 'connecting';
  private readonly manager: RedisConnectionManager;
  private readonly ownsManager: boolean;
  private readonly settings: Required<Omit<ClusterSettings, 'redis' | 'accountId' | 'keyPrefix' | 'fallbackShare' | 'connection'>> & { keyPrefix?: string; fallbackShare: number | null };
  private readonly sharedLimits: LimiterOptions;
  private readonly sharedTokenLimits: LimiterOptions | null;
  private cluster: ClusterBackend | null = null;
  private building = false;
  private fallback: FallbackBackend | null = null;
  private settleUntil = 0;
  private settleTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private instancesTimer: NodeJS.Timeout | null = null;
  private readonly running = new Set<RunningJob>();
  /** shared slots whose free did not reach Redis (freed again on rejoin) */
  private unfreed: Array<{ index: string; weight: number; tokens: boolean }> = [];
  private sharedCapacity = 0;
  private sharedCapacityAt = 0;
  private instancesSeen = 0;
  private seq = 0;
  private readonly tag = Math.random().toString(36).slice(2, 10);
  private starts: Array<{ at: number; tokens: number }> = [];
  private readonly stateListeners = new Set<(s: ClusterState) => void>();
  private readonly onManagerState = (s: SharedStoreState): void => this.handleManagerState(s);
  private readonly stats = { startedShared: 0, startedLocal: 0, switches: 0 };

  constructor(opts: ClusteredAccountLimiterOptions) {
    // The parent's local limiter stays idle (the shared and fallback buckets below do the work).
    super({ limits: opts.limits, id: undefined });
    const c = opts.cluster;
    if (!c || typeof c.accountId !== 'string' || c.accountId === '') throw new Error('shared limits: accountId is required');
    if (!c.redis) throw new Error('shared limits: a Redis URL is required');
    const pos = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : d);
    this.settings = {
      connectTimeoutMs: pos(c.connectTimeoutMs, 2000),
      readyTimeoutMs: pos(c.readyTimeoutMs, 2000),
      retryMs: pos(c.retryMs, 1000),
      rejoinSettleMs: typeof c.rejoinSettleMs === 'number' && c.rejoinSettleMs >= 0 ? c.rejoinSettleMs : 6000,
      jobExpirationMs: pos(c.jobExpirationMs, 180_000),
      commandTimeoutMs: pos(c.commandTimeoutMs, 1000),
      keyPrefix: c.keyPrefix,
      fallbackShare: typeof c.fallbackShare === 'number' && c.fallbackShare > 0 ? Math.min(1, c.fallbackShare) : null,
    };
    this.accountKey = c.accountId;
    this.sharedId = sharedLimiterId(c.accountId, c.keyPrefix);
    this.sharedLimits = rateLimitOptions({ rpm: this.rpm, maxConcurrent: this.maxConcurrent, minuteMs: this.windowMs });
    this.sharedTokenLimits = this.tpm !== null ? tokenBucketOptions(this.tpm, this.windowMs) : null;
    if (typeof c.redis === 'string') {
      this.manager = acquireRedis(c.redis, { connectTimeoutMs: this.settings.connectTimeoutMs, ...c.connection });
      this.ownsManager = true;
    } else {
      this.manager = c.redis;
      this.ownsManager = false;
    }
    this.manager.on('state', this.onManagerState);
    this.manager.on('error', noop);
    if (this.manager.state === 'connected') void this.join();
    else if (this.manager.state === 'local-fallback' || this.manager.state === 'closed') this.toFallback();
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this._state === 'connecting') this.toFallback();
    }, this.settings.connectTimeoutMs);
    this.connectTimer.unref?.();
  }

  /** 'connecting' (requests refused as 'capacity'), 'connected', 'local-fallback', 'stopped'. */
  get state(): ClusterState {
    return this._state;
  }

  /** The share of the account used while Redis is away (configured, else 1/instances last seen, else 1). */
  get fallbackShare(): number {
    return this.settings.fallbackShare ?? (this.instancesSeen > 1 ? 1 / this.instancesSeen : 1);
  }

  /** Instances seen sharing this account in Redis (0 until known). */
  get instances(): number {
    return this.instancesSeen;
  }

  onState(fn: (s: ClusterState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Resolves true once in `state`, false after `timeoutMs`. */
  waitForState(state: ClusterState, timeoutMs: number): Promise<boolean> {
    if (this._state === state) return Promise.resolve(true);
    return new Promise((resolve) => {
      const off = this.onState((s) => {
        if (s === state) finish(true);
      });
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        off();
        resolve(ok);
      };
    });
  }

  sharedCounts(): { startedShared: number; startedLocal: number; switches: number } {
    return { ...this.stats };
  }

  override tryRun<T>(job: (ctl: RunControl) => Promise<T>, opts: TryRunOptions = {}): Promise<TryRunResult<T>> {
    if (this.stopped) return Promise.resolve({ started: false, reason: 'stopped' });
    if (Date.now() < this.pausedUntil) return Promise.resolve({ started: false, reason: 'paused' });
    const weight = this.tpm !== null ? Math.max(1, Math.ceil(opts.tokens ?? 1)) : 0;
    if (this.tpm !== null && weight > this.largestTokenWeight()) return Promise.resolve({ started: false, reason: 'too_large' });
    if (this._state === 'connecting') return Promise.resolve({ started: false, reason: 'capacity' });
    return this.start(job, opts, weight, false);
  }

  /** Pauses every instance sharing the account for `ms` (a 429's Retry-After). */
  override pause(ms: number): void {
    if (!(ms > 0) || this.stopped) return;
    super.pause(ms);
    const c = this.cluster;
    if (c && !c.dead && this._state === 'connected') {
      const d = Math.ceil(ms);
      c.requests.publish(`pause:${d}`).catch(noop);
      this.manager.client.set(this.pauseKey(), String(d), 'PX', d).catch(noop);
    }
  }

  override capacityHint(tokens?: number): number {
    if (this.stopped || this._state === 'connecting') return 0;
    if (Date.now() < this.pausedUntil) return 0;
    let cap = Infinity;
    const fb = this.fallback;
    const useLocal = this._state === 'local-fallback' || (fb !== null && Date.now() < this.settleUntil);
    if (useLocal && fb) {
      if (fb.maxConcurrent !== null) cap = Math.max(0, fb.maxConcurrent - this.inFlight);
      const c = fb.requests.capacityNow();
      if (c !== null) cap = Math.min(cap, Math.max(0, c));
      if (cap > 0 && fb.tokens) {
        const r = fb.tokens.reservoirNow();
        if (typeof r === 'number' && r < Math.max(1, Math.ceil(tokens ?? 1))) cap = 0;
      }
    }
    if (this._state === 'connected') {
      const fresh = Date.now() - this.sharedCapacityAt < STALE_MS;
      cap = Math.min(cap, fresh ? Math.max(0, this.sharedCapacity) : 1);
    }
    return cap;
  }

  override counts(): LimiterCounts {
    const now = Date.now();
    this.pruneStarts(now);
    let tokens = 0;
    for (const s of this.starts) tokens += s.tokens;
    return {
      inFlight: this.inFlight,
      startedInWindow: this.starts.length,
      tokensInWindow: tokens,
      rpm: this.rpm,
      tpm: this.tpm,
      maxConcurrent: this.maxConcurrent,
      pausedUntil: this.pausedUntil > now ? this.pausedUntil : 0,
    };
  }

  override async stop(): Promise<void> {
    if (this.stopped) return;
    const prev = this._state;
    await super.stop();
    this._state = 'stopped';
    for (const t of [this.connectTimer, this.retryTimer, this.settleTimer, this.instancesTimer]) if (t) clearTimeout(t);
    this.connectTimer = this.retryTimer = this.settleTimer = this.instancesTimer = null;
    this.manager.off('state', this.onManagerState);
    this.manager.off('error', noop);
    if (this.cluster) this.teardown(this.cluster);
    this.cluster = null;
    this.dropFallback();
    if (this.ownsManager) await releaseRedis(this.manager);
    if (prev !== 'stopped') this.emitState();
    this.stateListeners.clear();
  }

  // --- starting jobs ---------------------------------------------------------------

  private largestTokenWeight(): number {
    const shared = this.sharedTokenLimits?.reservoirIncreaseMaximum ?? this.tpm ?? Infinity;
    return typeof shared === 'number' ? shared : Infinity;
  }

  private async start<T>(job: (ctl: RunControl) => Promise<T>, opts: TryRunOptions, weight: number, retried: boolean): Promise<TryRunResult<T>> {
    const slots: Slot[] = [];
    const refuse = (reason: 'capacity' | 'tokens' | 'paused' | 'stopped' | 'refused'): TryRunResult<T> => {
      for (const s of slots) s.release();
      return { started: false, reason };
    };
    const state = this._state;
    let shared = false;
    try {
      const fb = this.fallback;
      const useLocal = state === 'local-fallback' || (state === 'connected' && fb !== null && Date.now() < this.settleUntil);
      if (useLocal) {
        if (!fb) return refuse('capacity');
        if (fb.maxConcurrent !== null && this.inFlight >= fb.maxConcurrent) return refuse('capacity');
        const s = await acquireLocal(fb.requests, 1, opts.priority);
        if (!s) return refuse('capacity');
        slots.push(s);
        if (weight > 0 && fb.tokens) {
          const t = await acquireLocal(fb.tokens, weight);
          if (!t) return refuse('tokens');
          slots.push(t);
        }
      }
      if (state === 'connected') {
        const c = this.cluster;
        if (!c || c.dead) throw new Error('shared store: not joined');
        const s = await this.acquireShared(c, false, 1);
        if (!s) {
          this.sharedCapacity = 0;
          this.sharedCapacityAt = Date.now();
          return refuse('capacity');
        }
        slots.push(s);
        if (this.sharedCapacity > 0) this.sharedCapacity--;
        if (weight > 0 && c.tokens) {
          const t = await this.acquireShared(c, true, weight);
          if (!t) return refuse('tokens');
          slots.push(t);
        }
        shared = true;
      }
    } catch (err) {
      for (const s of slots) s.release();
      slots.length = 0;
      this.sharedFailed(err);
      if (!retried && this._state === 'local-fallback' && !this.stopped) return this.start(job, opts, weight, true);
      return { started: false, reason: 'capacity' };
    }
    if (this.stopped) return refuse('stopped');
    if (Date.now() < this.pausedUntil) return refuse('paused');
    if (opts.admit && !opts.admit()) return refuse('refused');
    return { started: true, result: this.run(job, slots, shared, weight) };
  }

  private run<T>(job: (ctl: RunControl) => Promise<T>, slots: Slot[], shared: boolean, weight: number): Promise<T> {
    const at = Date.now();
    const rec = { at, tokens: weight };
    this.starts.push(rec);
    if (this.starts.length > 64 && this.starts[0].at <= at - this.windowMs) this.pruneStarts(at);
    if (shared) this.stats.startedShared++;
    else this.stats.startedLocal++;
    this.inFlight++;
    const rj: RunningJob = { slots, shared, weight };
    this.running.add(rj);
    let keep: Promise<unknown> | null = null;
    let hold = 0;
    const ctl: RunControl = {
      startedAt: at,
      keepSlotUntil: (p) => {
        keep = p;
      },
      holdSlot: (ms) => {
        if (ms > hold) hold = ms;
      },
      notSent: () => {
        // The unit stays spent (a bucket must not be refilled by hand); only the count is corrected.
        const i = this.starts.indexOf(rec);
        if (i >= 0) this.starts.splice(i, 1);
      },
      chargeTokens: (total) => {
        if (this.tpm === null || !(total > rec.tokens)) return;
        const extra = Math.ceil(total - rec.tokens);
        rec.tokens += extra;
        const c = this.cluster;
        if (this._state === 'connected' && c && !c.dead && c.tokens) c.tokens.incrementReservoir(-extra).catch(noop);
        const fb = this.fallback;
        if (fb?.tokens) fb.tokens.incrementReservoir(-extra).catch(noop);
      },
    };
    let result: Promise<T>;
    try {
      result = Promise.resolve(job(ctl));
    } catch (e) {
      result = Promise.reject(e);
    }
    void (async () => {
      await result.catch(noop);
      if (keep) await Promise.resolve(keep).catch(noop);
      if (hold > 0 && !this.stopped) await this.sleepHold(hold);
      for (const s of rj.slots) s.release();
      this.running.delete(rj);
      this.inFlight--;
      this.emitCapacity();
    })();
    return result;
  }

  private async acquireShared(c: ClusterBackend, tokens: boolean, weight: number): Promise<Slot | null> {
    const limiter = tokens ? c.tokens : c.requests;
    if (!limiter) return null;
    const store = (limiter as unknown as { _store: StoreLike })._store;
    const index = `${this.tag}-${++this.seq}`;
    const r = await withTimeout(store.__register__(index, weight, this.settings.jobExpirationMs), this.settings.commandTimeoutMs);
    if (!r.success) return null;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.freeShared(c, index, weight, tokens);
      },
    };
  }

  private freeShared(c: ClusterBackend, index: string, weight: number, tokens: boolean): void {
    const limiter = tokens ? c.tokens : c.requests;
    if (!limiter || c.dead) {
      this.unfreed.push({ index, weight, tokens });
      return;
    }
    const store = (limiter as unknown as { _store: StoreLike })._store;
    withTimeout(Promise.resolve(store.__free__(index, weight)), this.settings.commandTimeoutMs).catch(() => this.unfreed.push({ index, weight, tokens }));
  }

  private pruneStarts(now: number): void {
    const from = now - this.windowMs;
    let i = 0;
    while (i < this.starts.length && this.starts[i].at <= from) i++;
    if (i > 0) this.starts.splice(0, i);
  }

  private pauseKey(): string {
    return `${this.sharedId}:paused`;
  }

  // --- joining, falling back, rejoining -------------------------------------------

  private handleManagerState(s: SharedStoreState): void {
    if (this.stopped) return;
    if (s === 'connected') void this.join();
    else if (s === 'local-fallback' || s === 'closed') this.toFallback();
  }

  private sharedFailed(err: unknown): void {
    if (this.stopped) return;
    void err;
    this.toFallback();
    if (this.manager.state === 'connected') this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped && this.manager.state === 'connected') void this.join();
    }, this.settings.retryMs);
    this.retryTimer.unref?.();
  }

  private async join(): Promise<void> {
    if (this.building || this.cluster || this.stopped) return;
    this.building = true;
    let backend: ClusterBackend | null = null;
    try {
      const client = this.manager.duplicate();
      const connection = new Bottleneck.IORedisConnection({ Redis: IORedis, client });
      connection.on('error', noop);
      const make = (limits: LimiterOptions, suffix: string): Bottleneck =>
        new Bottleneck(
          clusteredLimiterOptions({ redisUrl: this.manager.url, accountId: this.accountKey + suffix, limits, connection, keyPrefix: this.settings.keyPrefix }),
        );
      const requests = make(this.sharedLimits, '');
      const tokens = this.sharedTokenLimits ? make(this.sharedTokenLimits, ':tokens') : null;
      backend = { requests, tokens, connection, dead: false };
      const b = backend;
      for (const l of [requests, tokens]) {
        if (!l) continue;
        l.on('error', (e: unknown) => {
          if (!b.dead && b === this.cluster) this.sharedFailed(e);
        });
      }
      // Capacity messages (every heartbeat, and when a slot frees): update the hint, wake waiting requests.
      (requests as unknown as { _drainAll: (cap?: number) => Promise<number> })._drainAll = (cap?: number) => {
        if (!b.dead && b === this.cluster) {
          this.sharedCapacity = typeof cap === 'number' ? cap : Infinity;
          this.sharedCapacityAt = Date.now();
          if (this.sharedCapacity > 0) this.emitCapacity();
        }
        return Promise.resolve(0);
      };
      if (tokens) (tokens as unknown as { _drainAll: () => Promise<number> })._drainAll = () => Promise.resolve(0);
      requests.on('message', (m: string) => {
        if (b.dead) return;
        const match = /^pause:(\d+)$/.exec(String(m));
        if (match) super.pause(Number(match[1]));
      });
      await withTimeout(Promise.all([requests.ready(), tokens?.ready()]), this.settings.readyTimeoutMs);
      // Limits changed by a redeploy apply to every instance (the bucket's level is left as it is).
      const structural = (o: LimiterOptions): LimiterOptions => {
        const { reservoir, heartbeatInterval: _h, ...rest } = o;
        void _h;
        const unset = { maxConcurrent: null, reservoirIncreaseInterval: null, reservoirIncreaseAmount: null, reservoirIncreaseMaximum: null };
        return { ...unset, ...(reservoir === undefined ? { reservoir: null } : {}), ...rest };
      };
      await withTimeout(requests.updateSettings(structural(this.sharedLimits)) as unknown as Promise<unknown>, this.settings.readyTimeoutMs);
      if (tokens && this.sharedTokenLimits) await withTimeout(tokens.updateSettings(structural(this.sharedTokenLimits)) as unknown as Promise<unknown>, this.settings.readyTimeoutMs);
      const ttl = await withTimeout(this.manager.client.pttl(this.pauseKey()), this.settings.readyTimeoutMs);
      if (ttl > 0) super.pause(ttl);
      if (this.stopped || this.manager.state !== 'connected') {
        this.teardown(backend);
        if (!this.stopped) this.scheduleRetry();
        return;
      }
      this.cluster = backend;
      this.afterJoin(backend);
    } catch {
      if (backend) this.teardown(backend);
      this.scheduleRetry();
    } finally {
      this.building = false;
    }
  }

  private afterJoin(b: ClusterBackend): void {
    const prev = this._state;
    this._state = 'connected';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (prev === 'local-fallback') {
      this.stats.switches++;
      // Free what could not be freed while Redis was away (it may have kept our slots).
      const pending = this.unfreed;
      this.unfreed = [];
      for (const u of pending) this.freeShared(b, u.index, u.weight, u.tokens);
      // Requests still running locally take their slots in Redis (best effort).
      for (const rj of this.running) {
        if (rj.shared) continue;
        rj.shared = true;
        void this.acquireShared(b, false, 1).then(
          (s) => {
            if (!s) return;
            if (this.running.has(rj)) rj.slots.push(s);
            else s.release();
          },
          noop,
        );
      }
      if (this.settings.rejoinSettleMs > 0 && this.fallback) {
        this.settleUntil = Date.now() + this.settings.rejoinSettleMs;
        if (this.settleTimer) clearTimeout(this.settleTimer);
        this.settleTimer = setTimeout(() => {
          this.settleTimer = null;
          if (this._state === 'connected') this.dropFallback();
        }, this.settings.rejoinSettleMs);
        this.settleTimer.unref?.();
      } else this.dropFallback();
    }
    this.sharedCapacityAt = 0;
    this.startInstanceCount();
    this.emitState();
    this.emitCapacity();
  }

  private startInstanceCount(): void {
    if (this.instancesTimer) return;
    const key = `b_${this.sharedId}_client_last_seen`;
    const count = (): void => {
      if (this._state !== 'connected') return;
      const now = Date.now();
      this.manager.client.zcount(key, now - 10_000, '+inf').then((n) => {
        if (typeof n === 'number' && n > 0) this.instancesSeen = n;
      }, noop);
    };
    count();
    this.instancesTimer = setInterval(count, 2000);
    this.instancesTimer.unref?.();
  }

  private toFallback(): void {
    if (this.stopped) return;
    const prev = this._state;
    const old = this.cluster;
    this.cluster = null;
    if (old) this.teardown(old);
    if (this.instancesTimer) clearInterval(this.instancesTimer);
    this.instancesTimer = null;
    if (prev === 'local-fallback') return;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.settleUntil = 0;
    if (prev === 'connected') this.stats.switches++;
    // A fresh, EMPTY local bucket: the shared one may have been spent in the last window.
    this.dropFallback();
    this.fallback = this.buildFallback(prev === 'connected');
    for (const rj of this.running) rj.shared = false;
    this._state = 'local-fallback';
    this.emitState();
    this.emitCapacity();
  }

  private buildFallback(empty: boolean): FallbackBackend {
    const share = this.fallbackShare;
    const req = scaleLimits(this.sharedLimits, share);
    if (empty && typeof req.reservoir === 'number') req.reservoir = 0;
    const local = (o: LimiterOptions): FastBottleneck => {
      const l = new FastBottleneck({ ...o, highWater: 0, strategy: Bottleneck.strategy.OVERFLOW });
      l.on('error', noop);
      return l;
    };
    let tokens: FastBottleneck | null = null;
    if (this.sharedTokenLimits) {
      const t = scaleLimits(this.sharedTokenLimits, share);
      if (empty && typeof t.reservoir === 'number') t.reservoir = 0;
      tokens = local(t);
    }
    const mc = positiveInt(this.maxConcurrent);
    const fb: FallbackBackend = {
      requests: local(req),
      tokens,
      maxConcurrent: mc === null ? null : Math.max(1, Math.floor(mc * share)),
      share,
      timer: null,
    };
    // The local buckets refill on their heartbeat: tell waiting requests.
    const every = typeof req.reservoirIncreaseInterval === 'number' ? req.reservoirIncreaseInterval : null;
    if (every !== null) {
      fb.timer = setInterval(() => this.emitCapacity(), Math.max(5, every));
      fb.timer.unref?.();
    }
    return fb;
  }

  private dropFallback(): void {
    const fb = this.fallback;
    if (!fb) return;
    this.fallback = null;
    if (fb.timer) clearInterval(fb.timer);
    // Running jobs release their local slots on their own; nothing new starts here.
    for (const l of [fb.requests, fb.tokens]) {
      if (!l) continue;
      l.stop({ dropWaitingJobs: false }).catch(noop);
    }
  }

  private teardown(b: ClusterBackend): void {
    if (b.dead) return;
    b.dead = true;
    // Closing the shared connection stops every heartbeat on it; bottleneck's own
    // limiter.disconnect() would unsubscribe on a dead socket (an unhandled rejection).
    b.connection.disconnect(false).catch(noop);
    for (const l of [b.requests, b.tokens]) {
      const hb = l ? (l as unknown as { _store?: { heartbeat?: NodeJS.Timeout } })._store?.heartbeat : undefined;
      if (hb) clearInterval(hb);
    }
  }

  private emitState(): void {
    for (const l of this.stateListeners) {
      try {
        l(this._state);
      } catch {
        /* listeners must not break the limiter */
      }
    }
  }
}
