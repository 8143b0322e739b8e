/**
 * The limiter of one provider account: bottleneck enforces requests per window,
 * concurrency and (optionally) tokens per window; this class adds the few things
 * a router needs on top:
 *
 *  - start-or-refuse: `tryRun()` starts a job now or says it cannot (bottleneck
 *    `highWater: 0` + `strategy: OVERFLOW`: a job that cannot run immediately is
 *    dropped by bottleneck instead of queued), so the caller can spill over to the
 *    next candidate or queue the request itself;
 *  - a sliding window: the reservoir starts at `rpm`, each started request takes
 *    a unit, and the unit is given back (`incrementReservoir`) one window after
 *    the upstream surely received the request. The upstream counts arrivals; an
 *    arrival lies between our start and the end of the request, so the unit
 *    returns at min(end, start + sendLagMs) + windowMs + marginMs. No sliding
 *    window of the upstream ever holds more than `rpm` of our requests, and a
 *    saturated account runs at nearly its full rate (a plain token bucket refilled
 *    at rpm/min lets up to 2 x rpm through a sliding minute; a bucket sized to
 *    stay within it wastes capacity);
 *  - pause(ms): after a 429 nothing reaches the account before Retry-After, also
 *    not a job bottleneck admitted a moment earlier (checked again when it starts);
 *  - capacity events, so queued requests are retried as soon as a slot frees.
 *
 * Every local limiter is built by `createLimiter(options)` from a plain
 * bottleneck options object. Accounts shared by several Node-RED instances use
 * ClusteredAccountLimiter (engine/shared-store), a subclass with the same
 * contract on bottleneck's `ioredis` datastore.
 */
import Bottleneck from 'bottleneck';
import { FastBottleneck, type LimiterOptions } from './fast-bottleneck';

export type { LimiterOptions } from './fast-bottleneck';

export interface AccountLimits {
  /** requests per window; null/undefined/0 = unlimited */
  rpm?: number | null;
  /** prompt + completion tokens per window; null/undefined/0 = unlimited */
  tpm?: number | null;
  /** requests in flight at once; null/undefined/0 = unlimited */
  maxConcurrent?: number | null;
  /** the rate window, ms (default 60 000: "per minute") */
  windowMs?: number;
  /** extra time a request stays in the window, against clock skew (default 0.2 % of the window, 10..250 ms) */
  marginMs?: number;
  /**
   * Upper bound of the time from our start until the upstream has the request
   * (event-loop lag + network), for requests still running (default 1000 ms).
   */
  sendLagMs?: number;
}

/** capacity: limits reached now; tokens: not enough tokens left in the window now; too_large: more tokens than the whole window allows */
export type NotStartedReason = 'capacity' | 'paused' | 'tokens' | 'too_large' | 'stopped' | 'refused';

export type TryRunResult<T> = { started: false; reason: NotStartedReason } | { started: true; result: Promise<T> };

/** Passed to a started job. */
export interface RunControl {
  /** epoch ms when the job started */
  readonly startedAt: number;
  /** keep the concurrency slot after the job's result is delivered, until `p` settles (e.g. a stream still flowing) */
  keepSlotUntil(p: Promise<unknown>): void;
  /** keep the concurrency slot `ms` longer after the result (e.g. after aborting a request the server may still count) */
  holdSlot(ms: number): void;
  /** the request really used `total` tokens (charged to the tokens-per-window limit when more than estimated) */
  chargeTokens(total: number): void;
  /** nothing reached the upstream after all: its units go back at once */
  notSent(): void;
}

export interface TryRunOptions {
  /** estimated tokens of the request (prompt + expected completion), for the tpm limit */
  tokens?: number;
  /** bottleneck priority 0 (first) .. 9 */
  priority?: number;
  /** last check once the limiter admitted the job; false = do not start it ('refused', units given back) */
  admit?: () => boolean;
}

export interface LimiterCounts {
  /** started and not finished (slot held) */
  inFlight: number;
  /** requests started in the last window */
  startedInWindow: number;
  /** tokens charged in the last window */
  tokensInWindow: number;
  rpm: number | null;
  tpm: number | null;
  maxConcurrent: number | null;
  /** epoch ms until which the account is paused (0 = not paused) */
  pausedUntil: number;
}

function positiveInt(n: unknown): number | null {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.max(1, Math.floor(n)) : null;
}

/** bottleneck options for an account's request limiter (start-or-refuse, sliding-window reservoir). */
export function requestLimiterOptions(limits: AccountLimits, id?: string): LimiterOptions {
  const mc = positiveInt(limits.maxConcurrent);
  const rpm = positiveInt(limits.rpm);
  return {
    highWater: 0,
    strategy: Bottleneck.strategy.OVERFLOW,
    ...(id ? { id } : {}),
    ...(mc !== null ? { maxConcurrent: mc } : {}),
    ...(rpm !== null ? { reservoir: rpm } : {}),
  };
}

/** bottleneck options for an account's token limiter (weights are tokens). */
export function tokenLimiterOptions(limits: AccountLimits, id?: string): LimiterOptions | null {
  const tpm = positiveInt(limits.tpm);
  if (tpm === null) return null;
  return { highWater: 0, strategy: Bottleneck.strategy.OVERFLOW, reservoir: tpm, ...(id ? { id: `${id}:tokens` } : {}) };
}

/**
 * THE place limiters are constructed. Local limiters get FastBottleneck (bottleneck
 * with per-instance fast paths); any options object bottleneck accepts works,
 * including `datastore: 'ioredis'` for clustering.
 */
export function createLimiter(options: LimiterOptions): Bottleneck {
  const limiter = new FastBottleneck(options);
  limiter.on('error', () => {
    /* bottleneck reports internal errors as events; a job's own errors reach its caller */
  });
  return limiter;
}

class NotSent extends Error {
  constructor(readonly reason: NotStartedReason) {
    super(`not started: ${reason}`);
  }
}

interface WindowEntry {
  /** start */
  at: number;
  /** when its units return to the reservoirs */
  due: number;
  requests: number;
  tokens: number;
}

type Listener = () => void;

export interface AccountLimiterOptions {
  limits: AccountLimits;
  /** bottleneck id prefix (Redis key when clustered) */
  id?: string;
  /** replaces createLimiter (tests, clustering) */
  create?: (options: LimiterOptions) => Bottleneck;
}

export class AccountLimiter {
  readonly windowMs: number;
  readonly marginMs: number;
  readonly sendLagMs: number;
  readonly rpm: number | null;
  readonly tpm: number | null;
  readonly maxConcurrent: number | null;
  /** the bottleneck limiter of record for requests and concurrency */
  readonly requests: Bottleneck;
  /** the bottleneck limiter for tokens per window, when tpm is set */
  readonly tokens: Bottleneck | null;

  protected stopped = false;
  private _pausedUntil = 0;
  private pauseTimer: NodeJS.Timeout | null = null;
  protected inFlight = 0;
  /** started requests, oldest first (until their units returned, or for counts) */
  private window: WindowEntry[] = [];
  private windowTimer: NodeJS.Timeout | null = null;
  private windowTimerDue = Infinity;
  private readonly holdTimers = new Map<NodeJS.Timeout, () => void>();
  private readonly listeners = new Set<Listener>();

  constructor(opts: AccountLimiterOptions) {
    const limits = opts.limits ?? {};
    this.windowMs = typeof limits.windowMs === 'number' && limits.windowMs > 0 ? limits.windowMs : 60_000;
    this.marginMs =
      typeof limits.marginMs === 'number' && limits.marginMs >= 0 ? limits.marginMs : Math.min(250, Math.max(10, Math.round(this.windowMs * 0.002)));
    this.sendLagMs = typeof limits.sendLagMs === 'number' && limits.sendLagMs >= 0 ? limits.sendLagMs : 1000;
    this.rpm = positiveInt(limits.rpm);
    this.tpm = positiveInt(limits.tpm);
    this.maxConcurrent = positiveInt(limits.maxConcurrent);
    const create = opts.create ?? createLimiter;
    this.requests = create(requestLimiterOptions(limits, opts.id));
    const tokOpts = tokenLimiterOptions(limits, opts.id);
    this.tokens = tokOpts ? create(tokOpts) : null;
  }

  get pausedUntil(): number {
    return this._pausedUntil;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Called whenever capacity may have freed (slot released, window moved, pause over). */
  onCapacity(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Starts `job` now if the account's limits allow it, else returns
   * `{started: false, reason}` without sending anything. The result promise of a
   * started job settles with the job's outcome; the slot is freed when the job
   * (and any keepSlotUntil / holdSlot) is over.
   */
  tryRun<T>(job: (ctl: RunControl) => Promise<T>, opts: TryRunOptions = {}): Promise<TryRunResult<T>> {
    if (this.stopped) return Promise.resolve({ started: false, reason: 'stopped' });
    if (Date.now() < this._pausedUntil) return Promise.resolve({ started: false, reason: 'paused' });
    const weight = this.tokens ? Math.max(1, Math.ceil(opts.tokens ?? 1)) : 0;
    if (this.tokens && this.tpm !== null && weight > this.tpm) return Promise.resolve({ started: false, reason: 'too_large' });
    return new Promise<TryRunResult<T>>((resolveStart) => {
      let started = false;
      const task = async (): Promise<void> => {
        // bottleneck admitted the job and took a reservoir unit.
        if (this.stopped || Date.now() < this._pausedUntil) {
          this.giveBack(1, 0);
          throw new NotSent(this.stopped ? 'stopped' : 'paused');
        }
        if (opts.admit && !opts.admit()) {
          this.giveBack(1, 0);
          throw new NotSent('refused');
        }
        if (this.tokens && weight > 0) {
          const ok = await this.tokens.schedule({ weight }, () => Promise.resolve(true)).catch(() => false);
          if (!ok || this.stopped || Date.now() < this._pausedUntil) {
            this.giveBack(1, ok ? weight : 0);
            throw new NotSent(!ok ? 'tokens' : this.stopped ? 'stopped' : 'paused');
          }
        }
        started = true;
        const at = Date.now();
        const entry: WindowEntry = { at, due: at + this.sendLagMs + this.windowMs + this.marginMs, requests: 1, tokens: weight };
        this.pushWindow(entry);
        this.inFlight++;
        let keep: Promise<unknown> | null = null;
        let hold = 0;
        let notSent = false;
        const ctl: RunControl = {
          startedAt: entry.at,
          keepSlotUntil: (p) => {
            keep = p;
          },
          holdSlot: (ms) => {
            if (ms > hold) hold = ms;
          },
          notSent: () => {
            notSent = true;
          },
          chargeTokens: (total) => {
            if (!this.tokens || !(total > entry.tokens)) return;
            const extra = Math.ceil(total - entry.tokens);
            entry.tokens += extra;
            this.tokens.incrementReservoir(-extra).catch(() => undefined);
          },
        };
        let result: Promise<T>;
        try {
          result = Promise.resolve(job(ctl));
        } catch (e) {
          result = Promise.reject(e);
        }
        resolveStart({ started: true, result });
        try {
          await result;
        } catch {
          /* the caller gets the error through `result` */
        }
        if (notSent) this.dropEntry(entry);
        // The upstream has surely seen the request by now.
        else this.settleEntry(entry, Date.now());
        if (keep) await Promise.resolve(keep).catch(() => undefined);
        if (hold > 0 && !this.stopped) await this.sleepHold(hold);
        this.inFlight--;
        this.emitCapacity();
      };
      this.requests.schedule(opts.priority !== undefined ? { priority: opts.priority } : {}, task).then(
        () => undefined,
        (err: unknown) => {
          if (started) return;
          const reason: NotStartedReason = err instanceof NotSent ? err.reason : this.stopped ? 'stopped' : 'capacity';
          resolveStart({ started: false, reason });
        },
      );
    });
  }

  /** Nothing may start before `Date.now() + ms` (a 429's Retry-After). */
  pause(ms: number): void {
    if (!(ms > 0) || this.stopped) return;
    const until = Date.now() + Math.ceil(ms);
    if (until <= this._pausedUntil) return;
    this._pausedUntil = until;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      this.emitCapacity();
    }, until - Date.now() + 1);
  }

  /** A cheap, synchronous guess whether `tryRun` would start now (the real check is bottleneck's). */
  canStartHint(tokens?: number): boolean {
    return this.capacityHint(tokens) > 0;
  }

  /** How many requests could start now, as far as known without a round trip (Infinity = unlimited / unknown). */
  capacityHint(tokens?: number): number {
    if (this.stopped) return 0;
    if (Date.now() < this._pausedUntil) return 0;
    let cap = Infinity;
    if (this.requests instanceof FastBottleneck) {
      const c = this.requests.capacityNow();
      if (c !== null) cap = Math.max(0, c);
    }
    if (cap > 0 && this.tokens instanceof FastBottleneck) {
      const r = this.tokens.reservoirNow();
      if (typeof r === 'number' && r < Math.max(1, Math.ceil(tokens ?? 1))) cap = 0;
    }
    return cap;
  }

  counts(): LimiterCounts {
    const now = Date.now();
    const from = now - this.windowMs;
    let started = 0;
    let tokens = 0;
    for (let i = 0; i < this.window.length; i++) {
      const e = this.window[i];
      if (e.at > from) {
        started += e.requests;
        tokens += e.tokens;
      }
    }
    return {
      inFlight: this.inFlight,
      startedInWindow: started,
      tokensInWindow: tokens,
      rpm: this.rpm,
      tpm: this.tpm,
      maxConcurrent: this.maxConcurrent,
      pausedUntil: this._pausedUntil > now ? this._pausedUntil : 0,
    };
  }

  /** Refuses new jobs, clears timers. Running jobs finish on their own (abort them first). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = null;
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimer = null;
    this.windowTimerDue = Infinity;
    for (const [t, resolve] of this.holdTimers) {
      clearTimeout(t);
      resolve();
    }
    this.holdTimers.clear();
    this.listeners.clear();
    for (const l of [this.requests, this.tokens]) {
      if (l && !(l instanceof FastBottleneck && l.fastLocal)) await l.disconnect().catch(() => undefined);
    }
  }

  // --- internals -------------------------------------------------------------

  protected emitCapacity(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        /* a listener's failure must not break the limiter */
      }
    }
  }

  protected sleepHold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.holdTimers.delete(t);
        resolve();
      }, ms);
      this.holdTimers.set(t, resolve);
    });
  }

  /** Returns units bottleneck took for a job that never sent anything. */
  private giveBack(requests: number, tokens: number): void {
    if (this.rpm !== null && requests > 0) this.requests.incrementReservoir(requests).catch(() => undefined);
    if (this.tokens && tokens > 0) this.tokens.incrementReservoir(tokens).catch(() => undefined);
  }

  private pushWindow(e: WindowEntry): void {
    this.window.push(e);
    if (this.rpm === null && this.tokens === null) {
      // only kept for counts(): drop what left the window
      const cutoff = e.at - this.windowMs - this.marginMs;
      if (this.window[0].at <= cutoff) this.window = this.window.filter((x) => x.at > cutoff);
      return;
    }
    this.armWindowTimer(e.due);
  }

  /** A request that was never sent: its units return now. */
  private dropEntry(e: WindowEntry): void {
    const i = this.window.indexOf(e);
    if (i < 0) return;
    this.window.splice(i, 1);
    this.giveBack(e.requests, e.tokens);
  }

  /** The request ended at `end`: its units may return one window after that (or earlier, per sendLagMs). */
  private settleEntry(e: WindowEntry, end: number): void {
    const due = end + this.windowMs + this.marginMs;
    if (due < e.due) {
      e.due = due;
      if (this.rpm !== null || this.tokens !== null) this.armWindowTimer(due);
    }
  }

  /** Gives back the units of every entry that is due; returns whether any was. */
  private returnDue(now: number): boolean {
    let reqs = 0;
    let toks = 0;
    const keep: WindowEntry[] = [];
    for (const e of this.window) {
      if (e.due <= now) {
        reqs += e.requests;
        toks += e.tokens;
      } else keep.push(e);
    }
    if (keep.length === this.window.length) return false;
    this.window = keep;
    this.giveBack(reqs, toks);
    return true;
  }

  private armWindowTimer(due: number): void {
    if (this.stopped || due >= this.windowTimerDue) return;
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimerDue = due;
    this.windowTimer = setTimeout(() => {
      this.windowTimer = null;
      this.windowTimerDue = Infinity;
      const now = Date.now();
      const returned = this.returnDue(now);
      let next = Infinity;
      for (const e of this.window) if (e.due < next) next = e.due;
      if (next < Infinity) this.armWindowTimer(next);
      if (returned) this.emitCapacity();
    }, Math.max(0, due - Date.now()) + 1);
    this.windowTimer.unref?.();
  }
}
