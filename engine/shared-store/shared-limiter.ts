/**
 * One provider account's limiter shared by several Node-RED instances.
 *
 * Two bottleneck limiters with the same limits: a clustered one (bottleneck's
 * `ioredis` datastore, one id per account, so every instance draws from the same
 * reservoir and concurrency count in Redis) and a local one. Jobs go to the
 * clustered limiter while Redis answers.
 *
 * Fallback procedure (what happens when Redis goes away and comes back):
 * 1. The connection manager reports 'local-fallback' (socket closed, or the
 *    connect timeout passed at start), or the clustered limiter reports a Redis
 *    error. The clustered limiter is switched off at once.
 * 2. Every job that has not started yet is re-submitted to the local limiter,
 *    with its priority and weight; its copy in the clustered limiter is dropped
 *    (and would do nothing if it ever ran). No job is lost or run twice: a job's
 *    outcome comes from its own function, never from a limiter's bookkeeping.
 * 3. Jobs already running keep running; a placeholder of the same weight holds
 *    their slot in the local limiter until they finish, so this instance stays
 *    within maxConcurrent across the switch.
 * 4. While local, each instance enforces the limits alone: `fallbackShare`
 *    (e.g. 1/N for N instances) scales them down so the combined rate stays within
 *    the account's limits; with the default 1 each instance may use all of it.
 * 5. When Redis answers again, a new clustered limiter joins the shared id
 *    (`clearDatastore: false`; the settings are re-created if Redis lost them),
 *    waiting jobs move back to it, and running local jobs get placeholders there.
 *    Other instances may rejoin later (their reconnect backoff), and Redis does
 *    not know their local jobs until then: for `rejoinSettleMs` after rejoining,
 *    every job must pass BOTH the clustered and the (share-scaled) local limiter,
 *    so with `fallbackShare` = 1/N the combined limits also hold while instances
 *    rejoin one by one. Keep `rejoinSettleMs` above the reconnect backoff cap.
 * Jobs submitted before the first connection are held (not run) for up to
 * `connectTimeoutMs`, then run locally if Redis has not answered.
 */
import { EventEmitter } from 'node:events';
import Bottleneck from 'bottleneck';
import IORedis from 'ioredis';
import { clusteredLimiterOptions, scaleLimits, type LimiterOptions } from './limiter-options';
import { acquireRedis, releaseRedis, RedisConnectionManager, type RedisConnectionOptions, type SharedStoreState } from './redis-connection';

export type SharedLimiterState = 'connecting' | 'connected' | 'local-fallback' | 'stopped';

export interface SharedLimiterOptions {
  /** The account's id, shared by every instance (the Redis key is `<keyPrefix>:<accountId>`). */
  accountId: string;
  /** A Redis URL (a process-wide connection is shared per URL) or a connection manager. */
  redis: string | RedisConnectionManager;
  /** The account's bottleneck options (the same object the local limiter is built from). */
  limits: LimiterOptions;
  /** Share of the limits this instance may use while Redis is unreachable (0 < share <= 1, default 1). */
  fallbackShare?: number;
  /** How long jobs wait for the first connection before running locally (ms, default 2000). */
  connectTimeoutMs?: number;
  /** How long a new clustered limiter may take to join the store (ms, default 2000). */
  readyTimeoutMs?: number;
  /** Delay before rebuilding the clustered limiter after a Redis error while connected (ms, default 1000). */
  retryMs?: number;
  /**
   * Crash safety net for the shared counts: a clustered job still running after this
   * long frees its slot in Redis (a dead instance cannot hold the account's
   * concurrency forever). Default: none.
   */
  jobExpirationMs?: number | null;
  keyPrefix?: string;
  /** After a fallback, how long jobs must also pass the local limiter (ms, default 6000; 0 = off). */
  rejoinSettleMs?: number;
  /** Reconnect/connect settings of the Redis connection, when this limiter opens it from a URL. */
  connection?: RedisConnectionOptions;
}

export interface SharedJobOptions {
  /** 0 (first) .. 9 (last), default 5, as bottleneck */
  priority?: number;
  /** slots and reservoir units the job takes, default 1, as bottleneck */
  weight?: number;
  /** ms before the job is failed by the limiter, as bottleneck (use with care) */
  expiration?: number | null;
}

export interface SharedLimiterCounts {
  /** waiting to start (in a limiter, or held before the first connection) */
  queued: number;
  running: number;
  /** jobs started through the clustered / local limiter since creation */
  startedClustered: number;
  startedLocal: number;
  /** switches between clustered and local */
  switches: number;
}

type BackendKind = 'clustered' | 'local';
interface Backend {
  kind: BackendKind;
  limiter: Bottleneck;
  connection?: Bottleneck.IORedisConnection;
  dead: boolean;
}

interface Pending {
  fn: (...args: any[]) => unknown;
  args: unknown[];
  priority: number;
  weight: number;
  expiration: number | null;
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  gen: number;
  backend: Backend | null;
  started: boolean;
  settled: boolean;
  finished: Promise<void>;
  markFinished: () => void;
}

function nonNegInt(n: unknown, dflt: number): number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : dflt;
}

function noop(): void {
  /* ignored on purpose */
}

export class SharedLimiter extends EventEmitter {
  readonly accountId: string;
  private _state: SharedLimiterState = 'connecting';
  private readonly manager: RedisConnectionManager;
  private readonly ownsManager: boolean;
  private readonly limits: LimiterOptions;
  private readonly local: Backend;
  private clustered: Backend | null = null;
  private active: Backend | null = null;
  private building = false;
  private readonly waiting = new Set<Pending>();
  private readonly runningJobs = new Set<Pending>();
  private connectTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private readonly opts: Required<Pick<SharedLimiterOptions, 'connectTimeoutMs' | 'readyTimeoutMs' | 'retryMs' | 'rejoinSettleMs'>> & {
    jobExpirationMs: number | null;
    keyPrefix?: string;
  };
  private readonly stats = { startedClustered: 0, startedLocal: 0, switches: 0 };
  private readonly onManagerState = (s: SharedStoreState) => this.handleManagerState(s);

  constructor(options: SharedLimiterOptions) {
    super();
    if (!options || typeof options.accountId !== 'string' || options.accountId === '') throw new Error('shared limiter: accountId is required');
    if (!options.limits || typeof options.limits !== 'object') throw new Error('shared limiter: limits are required');
    this.accountId = options.accountId;
    this.limits = { ...options.limits };
    for (const k of ['id', 'datastore', 'clearDatastore', 'connection', 'Redis', 'clientOptions'] as const) delete (this.limits as Record<string, unknown>)[k];
    this.opts = {
      connectTimeoutMs: options.connectTimeoutMs && options.connectTimeoutMs > 0 ? options.connectTimeoutMs : 2000,
      readyTimeoutMs: options.readyTimeoutMs && options.readyTimeoutMs > 0 ? options.readyTimeoutMs : 2000,
      retryMs: options.retryMs && options.retryMs > 0 ? options.retryMs : 1000,
      jobExpirationMs: options.jobExpirationMs && options.jobExpirationMs > 0 ? options.jobExpirationMs : null,
      keyPrefix: options.keyPrefix,
      rejoinSettleMs: typeof options.rejoinSettleMs === 'number' && options.rejoinSettleMs >= 0 ? options.rejoinSettleMs : 6000,
    };
    const share = typeof options.fallbackShare === 'number' && options.fallbackShare > 0 ? Math.min(1, options.fallbackShare) : 1;
    const local = new Bottleneck(scaleLimits(this.limits, share));
    local.on('error', noop);
    this.local = { kind: 'local', limiter: local, dead: false };

    if (typeof options.redis === 'string') {
      this.manager = acquireRedis(options.redis, { connectTimeoutMs: this.opts.connectTimeoutMs, ...options.connection });
      this.ownsManager = true;
    } else {
      this.manager = options.redis;
      this.ownsManager = false;
    }
    this.manager.on('state', this.onManagerState);
    if (this.manager.state === 'connected') void this.buildClustered();
    else if (this.manager.state === 'local-fallback' || this.manager.state === 'closed') this.switchTo(this.local);
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this._state === 'connecting') this.switchTo(this.local);
    }, this.opts.connectTimeoutMs);
    this.connectTimer.unref?.();
  }

  /** 'connecting' (jobs held), 'connected' (clustered), 'local-fallback', 'stopped'. */
  get state(): SharedLimiterState {
    return this._state;
  }

  /** Waits until the state is `state` (true) or `timeoutMs` passes (false). */
  waitForState(state: SharedLimiterState, timeoutMs: number): Promise<boolean> {
    if (this._state === state) return Promise.resolve(true);
    return new Promise((resolve) => {
      const on = (s: SharedLimiterState) => {
        if (s === state) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.off('state', on);
        resolve(ok);
      };
      this.on('state', on);
    });
  }

  /**
   * As bottleneck: `schedule(fn, ...args)` or `schedule(options, fn, ...args)`.
   * Resolves or rejects exactly once, with the outcome of `fn`.
   */
  schedule<R>(fn: (...args: any[]) => R | PromiseLike<R>, ...args: any[]): Promise<R>;
  schedule<R>(options: SharedJobOptions, fn: (...args: any[]) => R | PromiseLike<R>, ...args: any[]): Promise<R>;
  schedule<R>(a: unknown, ...rest: any[]): Promise<R> {
    let options: SharedJobOptions = {};
    let fn: (...args: any[]) => R | PromiseLike<R>;
    let args: unknown[];
    if (typeof a === 'function') {
      fn = a as typeof fn;
      args = rest;
    } else {
      options = (a && typeof a === 'object' ? a : {}) as SharedJobOptions;
      fn = rest[0];
      args = rest.slice(1);
    }
    if (typeof fn !== 'function') return Promise.reject(new TypeError('shared limiter: schedule needs a function'));
    if (this.isStopped()) return Promise.reject(new Error('shared limiter: stopped'));
    return new Promise<R>((resolve, reject) => {
      let markFinished: () => void = noop;
      const finished = new Promise<void>((r) => (markFinished = r));
      const prio = typeof options.priority === 'number' && Number.isInteger(options.priority) ? Math.min(9, Math.max(0, options.priority)) : 5;
      const p: Pending = {
        fn,
        args,
        priority: prio,
        weight: nonNegInt(options.weight, 1),
        expiration: typeof options.expiration === 'number' && options.expiration > 0 ? options.expiration : null,
        resolve,
        reject,
        gen: 0,
        backend: null,
        started: false,
        settled: false,
        finished,
        markFinished,
      };
      this.waiting.add(p);
      this.dispatch(p);
    });
  }

  /** As bottleneck: `submit([options,] fn, ...args, callback)` with a node-style fn. */
  submit(...input: any[]): void {
    const cb = input.pop() as (err: unknown, ...res: unknown[]) => void;
    let options: SharedJobOptions = {};
    if (typeof input[0] !== 'function') options = input.shift() ?? {};
    const fn = input.shift() as (...a: any[]) => void;
    const run = (...args: unknown[]) =>
      new Promise<unknown[]>((resolve, reject) => fn(...args, (err: unknown, ...res: unknown[]) => (err ? reject(err) : resolve(res))));
    this.schedule(options, run, ...input).then(
      (res) => cb?.(null, ...res),
      (err) => cb?.(err),
    );
  }

  /** As bottleneck: a function that schedules `fn` on every call. */
  wrap<A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>): (...args: A) => Promise<R> {
    return (...args: A) => this.schedule(fn as (...a: any[]) => R | PromiseLike<R>, ...args);
  }

  queued(): number {
    return this.waiting.size;
  }

  running(): number {
    return this.runningJobs.size;
  }

  counts(): SharedLimiterCounts {
    return { queued: this.waiting.size, running: this.runningJobs.size, ...this.stats };
  }

  /** The reservoir of the limiter in use (shared in Redis while connected). */
  async currentReservoir(): Promise<number | null> {
    const b = this.active ?? this.local;
    return b.limiter.currentReservoir();
  }

  /** Adds to the reservoir of the limiter in use (shared by all instances while connected). */
  async incrementReservoir(incr: number): Promise<void> {
    const b = this.active ?? this.local;
    await b.limiter.incrementReservoir(incr);
  }

  /**
   * Changes limits (bottleneck's updateSettings) on the local limiter and, while
   * connected, in the shared store (affecting every instance).
   */
  async updateSettings(options: LimiterOptions): Promise<void> {
    Object.assign(this.limits, options);
    await this.local.limiter.updateSettings(options);
    if (this.clustered && !this.clustered.dead) await this.clustered.limiter.updateSettings(options);
  }

  /**
   * Stops the limiter. Waiting jobs are rejected (default) or, with
   * `{dropWaitingJobs: false}`, allowed to run first. Running jobs are not awaited.
   * Closes the Redis connection when this limiter opened it.
   */
  async stop(options: { dropWaitingJobs?: boolean } = {}): Promise<void> {
    if (this.isStopped()) return;
    if (options.dropWaitingJobs === false) {
      while (this.waiting.size > 0 && !this.isStopped()) {
        await Promise.race([...this.waiting].map((p) => p.finished));
      }
      if (this.isStopped()) return;
    }
    const prev = this._state;
    this._state = 'stopped';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.connectTimer = this.retryTimer = this.settleTimer = null;
    this.manager.off('state', this.onManagerState);
    for (const p of [...this.waiting]) {
      this.waiting.delete(p);
      this.settle(p, false, new Error('shared limiter: stopped'));
    }
    if (this.clustered) this.teardown(this.clustered);
    this.clustered = null;
    this.active = null;
    this.local.dead = true;
    this.local.limiter.stop({ dropWaitingJobs: true }).catch(noop);
    await this.local.limiter.disconnect(false).catch(noop);
    if (this.ownsManager) await releaseRedis(this.manager);
    this.emit('state', 'stopped', prev);
  }

  // --- internals ---------------------------------------------------------------

  private isStopped(): boolean {
    return this._state === 'stopped';
  }

  private handleManagerState(s: SharedStoreState): void {
    if (this.isStopped()) return;
    if (s === 'connected') void this.buildClustered();
    else if (s === 'local-fallback' || s === 'closed') this.fallBack();
  }

  private async buildClustered(): Promise<void> {
    if (this.building || this.clustered || this.isStopped()) return;
    this.building = true;
    let backend: Backend | null = null;
    try {
      const client = this.manager.duplicate();
      const connection = new Bottleneck.IORedisConnection({ Redis: IORedis, client });
      connection.on('error', noop);
      const limiter = new Bottleneck(
        clusteredLimiterOptions({ redisUrl: this.manager.url, accountId: this.accountId, limits: this.limits, connection, keyPrefix: this.opts.keyPrefix }),
      );
      backend = { kind: 'clustered', limiter, connection, dead: false };
      const b = backend;
      limiter.on('error', (err: unknown) => this.onClusteredError(b, err));
      let timer: NodeJS.Timeout | null = null;
      const ok = await Promise.race([
        limiter.ready().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), this.opts.readyTimeoutMs);
        }),
      ]);
      if (timer) clearTimeout(timer);
      if (!ok || this.isStopped() || this.manager.state !== 'connected') {
        this.teardown(backend);
        if (!this.isStopped()) this.scheduleRetry();
        return;
      }
      this.clustered = backend;
      this.switchTo(backend);
    } catch (err) {
      if (backend) this.teardown(backend);
      this.emitError(err);
      this.scheduleRetry();
    } finally {
      this.building = false;
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.isStopped()) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.isStopped() && this.manager.state === 'connected') void this.buildClustered();
    }, this.opts.retryMs);
    this.retryTimer.unref?.();
  }

  private onClusteredError(b: Backend, err: unknown): void {
    if (b.dead || b !== this.clustered) return;
    this.emitError(err);
    this.fallBack();
    if (this.manager.state === 'connected') this.scheduleRetry();
  }

  private fallBack(): void {
    if (this.isStopped()) return;
    const old = this.clustered;
    this.clustered = null;
    if (this.active !== this.local) this.switchTo(this.local);
    if (old) this.teardown(old);
  }

  private switchTo(target: Backend): void {
    if (this.isStopped()) return;
    const prev = this._state;
    const hadActive = this.active !== null;
    this.active = target;
    this._state = target.kind === 'clustered' ? 'connected' : 'local-fallback';
    if (this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    if (hadActive) this.stats.switches += 1;
    if (this.settleTimer) {
      clearTimeout(this.settleTimer);
      this.settleTimer = null;
    }
    if (target.kind === 'clustered' && prev === 'local-fallback' && this.opts.rejoinSettleMs > 0) {
      // Rejoin settle period: jobs pass the shared limiter and then the local one.
      target.limiter.chain(this.local.limiter);
      this.settleTimer = setTimeout(() => {
        this.settleTimer = null;
        if (!target.dead) target.limiter.chain(undefined);
      }, this.opts.rejoinSettleMs);
      this.settleTimer.unref?.();
    }
    // Placeholders first: each running job's slot is taken in the new limiter
    // (until the job finishes) before any waiting job can claim it.
    for (const p of this.runningJobs) {
      if (p.backend !== target) target.limiter.schedule({ priority: 0, weight: p.weight }, () => p.finished).catch(noop);
    }
    for (const p of [...this.waiting]) if (p.backend !== target) this.dispatch(p);
    if (prev !== this._state) this.emit('state', this._state, prev);
  }

  private teardown(b: Backend): void {
    if (b.dead) return;
    b.dead = true;
    b.limiter.stop({ dropWaitingJobs: true }).catch(noop);
    // Closes both sockets right away (no flush, no reconnect) and clears heartbeats.
    if (b.connection) b.connection.disconnect(false).catch(noop);
  }

  private dispatch(p: Pending): void {
    if (p.started || p.settled) return;
    const b = this.active;
    p.gen += 1;
    p.backend = b;
    if (!b) return; // held until the first state is known
    const gen = p.gen;
    const expiration = b.kind === 'clustered' ? (p.expiration ?? this.opts.jobExpirationMs) : p.expiration;
    b.limiter
      .schedule({ priority: p.priority, weight: p.weight, expiration: expiration ?? null }, () => this.execute(p, gen, b))
      .catch((err: unknown) => this.onRejected(p, gen, b, err));
  }

  private execute(p: Pending, gen: number, b: Backend): Promise<void> {
    if (p.gen !== gen || p.started || p.settled) return Promise.resolve();
    if (b.dead) {
      // Never run on a limiter that was switched off; move to the one in use.
      this.dispatch(p);
      return Promise.resolve();
    }
    p.started = true;
    this.waiting.delete(p);
    this.runningJobs.add(p);
    if (b.kind === 'clustered') this.stats.startedClustered += 1;
    else this.stats.startedLocal += 1;
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(p.fn(...p.args));
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.then(
      (v) => this.settle(p, true, v),
      (e) => this.settle(p, false, e),
    );
  }

  private onRejected(p: Pending, gen: number, b: Backend, err: unknown): void {
    if (p.gen !== gen || p.started || p.settled) return;
    if (this.isStopped()) {
      this.settle(p, false, new Error('shared limiter: stopped'));
      return;
    }
    if (b.kind === 'clustered' && !b.dead && err instanceof Bottleneck.BottleneckError) {
      // bottleneck's own verdict (dropped by highWater/strategy, overweight): pass it on, as bottleneck does.
      this.waiting.delete(p);
      this.settle(p, false, err);
      return;
    }
    if (b.kind === 'clustered' || b.dead) {
      // The shared store failed this job before it started: run it locally instead.
      if (b === this.clustered) this.onClusteredError(b, err);
      if (p.gen === gen && !p.started && !p.settled) this.dispatch(p);
      return;
    }
    this.waiting.delete(p);
    this.settle(p, false, err);
  }

  private settle(p: Pending, ok: boolean, value: unknown): void {
    if (p.settled) return;
    p.settled = true;
    this.runningJobs.delete(p);
    this.waiting.delete(p);
    if (ok) p.resolve(value);
    else p.reject(value);
    p.markFinished();
  }

  private emitError(err: unknown): void {
    if (this.listenerCount('error') === 0) return;
    const msg = err instanceof Error ? err.message : String(err);
    this.emit('error', new Error(`shared limiter ${this.accountId}: ${msg}`));
  }
}
