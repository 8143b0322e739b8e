/**
 * A bottleneck limiter without bottleneck's ~5 ms of scheduling cost per job.
 *
 * Stock bottleneck 2.19.5 adds about 5 ms to every job (upstream issue #144):
 * its local datastore awaits `yieldLoop()` = `setTimeout(resolve, 0)` (clamped to
 * ~1 ms by Node) in every operation, `_run` starts each job with
 * `setTimeout(..., 0)` even when it may start at once, and every internal event
 * and lock step goes through an async generator, even when nobody listens.
 *
 * FastBottleneck is a subclass that replaces those pieces on ITS OWN INSTANCE
 * only (nothing on Bottleneck.prototype or LocalDatastore.prototype is touched,
 * so other packages sharing the bottleneck module are unaffected):
 *
 *  - the local datastore's `yieldLoop(0)` resolves at once (a resolved promise):
 *    the local store is synchronous, the yield only mimics the Redis store's
 *    asynchrony, and every operation stays asynchronous and serialised by
 *    bottleneck's own locks;
 *  - `_run` with a zero wait starts the job in a microtask instead of a clamped
 *    timer (jobs with a real wait, e.g. minTime, still use bottleneck's timers);
 *  - internal events nobody listens to resolve at once; the queue's
 *    heartbeat ref/unref listeners are called directly;
 *  - the submit/register locks are a same-contract FIFO lock built on
 *    bottleneck's own DLList, without async generators.
 *
 * The accounting that enforces the limits (reservoir, running count,
 * maxConcurrent, highWater/strategy, priorities) is bottleneck's, unchanged.
 * Only the local datastore is sped up: with `datastore: 'redis' | 'ioredis'` the
 * instance is a plain bottleneck except for the zero-wait start.
 */
import Bottleneck from 'bottleneck';

/* eslint-disable @typescript-eslint/no-require-imports */
const LocalDatastore: new (...args: any[]) => unknown = require('bottleneck/lib/LocalDatastore');
const DLList: new (incr?: () => void, decr?: () => void) => DLListLike = require('bottleneck/lib/DLList');
/* eslint-enable @typescript-eslint/no-require-imports */

/** Bottleneck accepts `heartbeatInterval` at runtime; its typings leave it out. */
export type LimiterOptions = Bottleneck.ConstructorOptions & { heartbeatInterval?: number };

interface DLListLike {
  length: number;
  push(v: unknown): void;
  shift(): any;
}

interface EventsLike {
  _events: Record<string, Array<{ cb: unknown; status: string }> | undefined>;
  trigger(name: string, ...args: unknown[]): Promise<unknown>;
}

interface JobLike {
  options: { id: string; expiration?: number | null };
  retryCount: number;
  doRun(): void;
  doExecute(chained: unknown, clearGlobalState: () => boolean, run: (wait: number) => unknown, free: (...a: unknown[]) => unknown): Promise<unknown>;
  doExpire(clearGlobalState: () => boolean, run: (wait: number) => unknown, free: (...a: unknown[]) => unknown): unknown;
}

interface Internals {
  _store: {
    yieldLoop(t?: number): Promise<void>;
    heartbeat?: NodeJS.Timeout | null;
    computeCapacity?: () => number | null;
    _nextRequest?: number;
    storeOptions?: Record<string, unknown>;
  };
  _queues: { Events: EventsLike };
  Events: EventsLike;
  _states: { jobStatus(id: string): string | null };
  _scheduled: Record<string, { timeout: unknown; expiration: unknown; job: JobLike } | undefined>;
  _limiter: unknown;
  _submitLock: unknown;
  _registerLock: unknown;
  _run(index: string, job: JobLike, wait: number): unknown;
  _clearGlobalState(index: string): boolean;
  _free(index: string, job: JobLike, ...rest: unknown[]): unknown;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** bottleneck's Sync contract (`schedule(task, ...args)`, `isEmpty()`), one task at a time, FIFO. */
class FastLock {
  _running = 0;
  readonly _queue: DLListLike = new DLList();
  constructor(readonly name: string) {}

  isEmpty(): boolean {
    return this._queue.length === 0;
  }

  schedule(task: (...args: unknown[]) => unknown, ...args: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this._queue.push({ task, args, resolve, reject });
      this._tryToRun();
    });
  }

  private _tryToRun(): void {
    if (this._running >= 1 || this._queue.length === 0) return;
    this._running++;
    const { task, args, resolve, reject } = this._queue.shift() as {
      task: (...a: unknown[]) => unknown;
      args: unknown[];
      resolve: (v: unknown) => void;
      reject: (e: unknown) => void;
    };
    let p: Promise<unknown>;
    try {
      p = Promise.resolve(task(...args));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (v) => {
        this._running--;
        this._tryToRun();
        resolve(v);
      },
      (e) => {
        this._running--;
        this._tryToRun();
        reject(e);
      },
    );
  }
}

function fastTrigger(events: EventsLike): void {
  const original = events.trigger.bind(events);
  events.trigger = (name: string, ...args: unknown[]): Promise<unknown> => {
    const ev = events._events;
    const debug = ev.debug;
    // With a debug listener, keep bottleneck's exact behaviour (it reports every event).
    if (name !== 'debug' && debug != null && debug.length > 0) return original(name, ...args);
    const listeners = ev[name];
    if (listeners == null || listeners.length === 0) return RESOLVED;
    return original(name, ...args);
  };
}

function installLocalFastPaths(self: Internals): void {
  const store = self._store;
  store.yieldLoop = (t = 0) => (t > 0 ? new Promise<void>((resolve) => setTimeout(resolve, t)) : RESOLVED);
  fastTrigger(self.Events);
  // The queue's only listeners (set by bottleneck's constructor) ref/unref the
  // reservoir heartbeat while jobs wait; do that directly.
  self._queues.Events.trigger = (name: string): Promise<unknown> => {
    const hb = store.heartbeat as (NodeJS.Timeout & { ref?: () => void; unref?: () => void }) | null | undefined;
    if (hb) {
      if (name === 'leftzero') hb.ref?.();
      else if (name === 'zero') hb.unref?.();
    }
    return RESOLVED;
  };
  self._submitLock = new FastLock('submit');
  self._registerLock = new FastLock('register');
}

function installZeroWaitStart(self: Internals, original: Internals['_run']): void {
  self._run = function fastRun(this: Internals, index: string, job: JobLike, wait: number): unknown {
    if (wait > 0) return original.call(this, index, job, wait);
    job.doRun();
    const clearGlobalState = this._clearGlobalState.bind(this, index);
    const run = this._run.bind(this, index, job);
    const free = this._free.bind(this, index, job);
    const expiration = job.options.expiration;
    const entry: { timeout: unknown; expiration: unknown; job: JobLike } = {
      timeout: undefined,
      expiration: expiration != null ? setTimeout(() => job.doExpire(clearGlobalState, run, free), expiration) : undefined,
      job,
    };
    this._scheduled[index] = entry;
    queueMicrotask(() => {
      // stop({dropWaitingJobs}) may have dropped the job in between; bottleneck
      // would have cleared its timer, so do nothing then.
      if (this._scheduled[index] !== entry) return;
      const status = this._states.jobStatus(job.options.id);
      if (status !== 'RUNNING' && !(job.retryCount > 0 && status === 'EXECUTING')) return;
      job.doExecute(this._limiter, clearGlobalState, run, free).catch((e: unknown) => {
        void this.Events.trigger('error', e);
      });
    });
    return entry;
  };
}

export class FastBottleneck extends Bottleneck {
  /** true when the local datastore's fast paths are installed */
  readonly fastLocal: boolean;

  constructor(options: LimiterOptions = {}) {
    super(options);
    const self = this as unknown as Internals;
    this.fastLocal = self._store instanceof LocalDatastore;
    if (this.fastLocal) installLocalFastPaths(self);
    installZeroWaitStart(self, Bottleneck.prototype['_run' as keyof Bottleneck] as unknown as Internals['_run']);
  }

  /**
   * Requests this limiter could start right now (the local store only; null when
   * unlimited or not knowable without a round trip, e.g. a Redis store).
   */
  capacityNow(): number | null {
    if (!this.fastLocal) return null;
    const store = (this as unknown as Internals)._store;
    const cap = store.computeCapacity ? store.computeCapacity() : null;
    if ((store._nextRequest ?? 0) > Date.now()) return 0;
    return cap;
  }

  /** The local store's reservoir (sync), or undefined for other stores. */
  reservoirNow(): number | null | undefined {
    if (!this.fastLocal) return undefined;
    const r = (this as unknown as Internals)._store.storeOptions?.reservoir;
    return typeof r === 'number' ? r : null;
  }
}
