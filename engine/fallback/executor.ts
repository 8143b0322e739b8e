/**
 * FallbackExecutor: runs one LLM request over an ordered list of candidates
 * (provider account + model), within every account's limits, with retries,
 * fallbacks, circuit breakers and a bounded priority queue. What
 * llm-call-with-fallback does with a message, minus Node-RED.
 *
 * A request (a "run") always tries the best candidate that can take it NOW:
 *  - a candidate is skipped when its breaker is open, its local priority is 0,
 *    its context window is too small, its health probe fails, its account is
 *    paused after a 429, or its limiter cannot start the request at once
 *    (spill over to the next one);
 *  - a retryable failure (429, 5xx, timeout, reset, malformed answer) makes the
 *    candidate wait max(backoff with full jitter, Retry-After) before it can be
 *    tried again, up to `retries` times; meanwhile the next candidates are tried;
 *  - a non-retryable failure (401/403/404, ...) drops the candidate; a context
 *    length error drops it and every candidate whose known window is not larger;
 *  - an invalid request (400 other than context length) fails at once: no
 *    candidate can fix it;
 *  - when nothing can start now but something may later (capacity, Retry-After,
 *    backoff, half-open breaker), the run waits in the queue (priority, then
 *    arrival) and is retried as soon as an account reports free capacity;
 *  - when nothing is left, the run fails with a friendly "emergency" error.
 * Every run settles exactly once; `close()` aborts in-flight requests and fails
 * queued runs with code 'closed'.
 *
 * Extension points (hooks): `lookup` before any candidate (response cache),
 * `order` (candidate-ordering strategies; may reject the request with a
 * PlanRejection, e.g. a budget), `beforeAttempt` / `onAttempt` / `onSuccess`
 * (metrics, cache store), and a per-request `send` (streaming: resolve at the
 * first byte and keep the slot with `control.keepSlotUntil`; failover only
 * happens before that). A response carrying DEFERRED_COMPLETION (a stream) is
 * settled at once; its usage is recorded and `onSuccess` runs when that promise
 * resolves (the end of the stream), and `ExecSuccess.finalized` says when.
 *
 * Cost: when the answering candidate has a price (the route entry's
 * priceIn/priceOut, else the account's model spec), `usd` is computed from the
 * usage and recorded in the ledger with it.
 */
import { localPriorities as defaultPriorities, type LocalPriorityTable } from '../ledger/local-priorities';
import { defaultLedger, type UsageLedger } from '../ledger/usage-ledger';
import { LlmError } from '../errors/classify';
import type { AbortLike, ProviderAccount, SkipReason } from '../providers/account';
import { providerRegistry, type ProviderRegistry } from '../providers/registry';
import { completionText, type ChatCompletion, type SendFn } from '../providers/transport';
import type { RouteCandidate } from '../routing/types';
import { costOf, isKnownPrice, type Price } from '../costs/pricing';
import { estimatePromptTokens, requestedCompletionTokens } from './request';
import { WaitQueue } from './wait-queue';

export interface AttemptRecord {
  /** account name */
  provider: string;
  model: string;
  outcome: 'ok' | 'error' | 'skipped';
  /** error code, or the skip reason */
  code?: string;
  status?: number;
  message?: string;
  latencyMs?: number;
  retryAfterMs?: number;
  /** ms since the request arrived */
  atMs: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/**
 * A response that finishes later (a stream) carries a promise under this key:
 * it resolves when the response is over, with its real usage.
 */
export const DEFERRED_COMPLETION: unique symbol = Symbol.for('llm-router.deferredCompletion') as never;

export interface DeferredCompletion {
  /** the response ended normally */
  ok: boolean;
  usage: Usage | null;
  /** why not, when !ok */
  error?: string;
}

/** Thrown by an `order` hook to fail the request with a code (e.g. every candidate is over budget). */
export class PlanRejection extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'PlanRejection';
  }
}

export interface ExecSuccess<R = ChatCompletion> {
  ok: true;
  response: R;
  /** the assistant text */
  text: string;
  /** account name that answered */
  provider: string;
  providerId: string;
  model: string;
  upstreamModel: string;
  attempts: AttemptRecord[];
  /** from arrival to answer */
  latencyMs: number;
  /** time spent waiting in the queue */
  queuedMs: number;
  usage: Usage | null;
  /** USD cost of this answer when the candidate's price is known, else null (0 for a cache hit) */
  usd: number | null;
  cached: boolean;
  /**
   * For a response that finishes later (a stream): resolves once it is over,
   * with the final usage and cost recorded (and `stream` set).
   */
  finalized?: Promise<ExecSuccess<R>>;
  /** how a deferred response (a stream) ended */
  stream?: { ok: boolean; error?: string };
}

export type FailureCode =
  | 'all_candidates_failed'
  | 'all_breakers_open'
  | 'no_candidates'
  | 'invalid_request'
  | 'queue_full'
  | 'queue_timeout'
  | 'deadline_exceeded'
  | 'budget_exhausted'
  | 'closed'
  | 'internal';

export interface ExecFailure {
  ok: false;
  code: FailureCode;
  /** friendly text for end users */
  message: string;
  /** what happened, for operators (no secrets) */
  detail: string;
  attempts: AttemptRecord[];
  latencyMs: number;
  /** every candidate failed or is unavailable: the emergency state */
  emergency: boolean;
  /** HTTP status of the deciding upstream error, when there is one */
  status?: number;
}

export type ExecOutcome<R = ChatCompletion> = ExecSuccess<R> | ExecFailure;

export interface ExecRequest<R = ChatCompletion> {
  /** the OpenAI request body (model is set per candidate) */
  body: Record<string, unknown>;
  /** candidates in order of preference */
  route: RouteCandidate[];
  /** queue priority, higher first (default 0) */
  priority?: number;
  /** aborts the request (in flight or queued) */
  signal?: AbortSignal;
  /** per-attempt timeout (default: the account's) */
  timeoutMs?: number;
  /** replaces the non-streaming chat completion call, for this request */
  send?: SendFn<R>;
  /** anything the hooks need (message id, session ...) */
  meta?: Record<string, unknown>;
}

/** A candidate with its account resolved. */
export interface ResolvedCandidate {
  route: RouteCandidate;
  account: ProviderAccount;
  model: string;
  /** "account name/model" */
  key: string;
}

export interface ExecutorHooks<R = ChatCompletion> {
  /** Before any candidate: an answer (e.g. from a response cache) ends the request without a call. */
  lookup?(req: ExecRequest<R>): ExecSuccess<R> | undefined | Promise<ExecSuccess<R> | undefined>;
  /**
   * Reorders (or filters) the resolved candidates of a request (called for every
   * request, also with one candidate). Throw a PlanRejection to fail the request
   * with its code; an empty list fails it with 'no_candidates'.
   */
  order?(candidates: ResolvedCandidate[], req: ExecRequest<R>): ResolvedCandidate[];
  /** An attempt on `candidate` is about to be made (it may still be skipped: see onAttempt). */
  beforeAttempt?(candidate: ResolvedCandidate, req: ExecRequest<R>): void;
  /** Every attempt and skip, as it happens. */
  onAttempt?(record: AttemptRecord, candidate: ResolvedCandidate, req: ExecRequest<R>): void;
  /** A request succeeded (not called for lookup hits; for a stream: when it is over). */
  onSuccess?(outcome: ExecSuccess<R>, req: ExecRequest<R>): void;
  /** The assistant text of a response (default: choices[0].message.content). */
  text?(response: R): string;
}

export interface ExecutorOptions<R = ChatCompletion> {
  /** retries per candidate after retryable failures (default 2) */
  retries?: number;
  /** backoff: full jitter in [0, min(max, base * 2^(n-1))] (defaults 250 / 8000 ms) */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** a Retry-After longer than this drops the candidate for this request (default 60 000 ms) */
  maxRetryAfterMs?: number;
  /** HTTP attempts per request over all candidates (default 10) */
  maxAttempts?: number;
  /** per-request overall deadline (default 300 000 ms) */
  deadlineMs?: number;
  /** waiting requests at most (default 10 000); beyond that a request fails with 'queue_full' */
  maxQueue?: number;
  /** how long a request may wait for capacity (default 60 000 ms) */
  queueTimeoutMs?: number;
  /** fail at once, instead of waiting, while every candidate's breaker is open (default false) */
  failFastWhenAllOpen?: boolean;
  /** per-attempt timeout override (default: each account's) */
  timeoutMs?: number;
  /** completion tokens assumed for the tokens-per-minute limit when a request sets no max_tokens (default 512) */
  expectedCompletionTokens?: number;
  /** the text users get when every candidate failed */
  friendlyMessage?: string;
  /** where providers are found (default: the process-wide registry) */
  registry?: ProviderRegistry;
  /** local priority table (default: the process-wide one); null = ignore */
  priorities?: LocalPriorityTable | null;
  /** usage ledger (default: the process-wide one); null = do not record */
  ledger?: UsageLedger | null;
  /** price of a candidate (default: the route entry's priceIn/priceOut, else the account's model spec) */
  priceOf?: (candidate: ResolvedCandidate) => Price | undefined;
  hooks?: ExecutorHooks<R>;
  /** random source for jitter (tests) */
  random?: () => number;
}

export interface ExecutorStats {
  /** requests waiting for capacity */
  queued: number;
  /** requests being worked on (attempt in flight or about to start) */
  active: number;
  /** all unfinished requests */
  pending: number;
  succeeded: number;
  failed: number;
  /** the last failure was an emergency and nothing succeeded since */
  emergency: boolean;
  lastFailure: { code: FailureCode; detail: string; at: number } | null;
  lastSuccess: { provider: string; model: string; latencyMs: number; at: number } | null;
}

export const DEFAULT_FRIENDLY_MESSAGE = 'The AI service is temporarily unavailable. Please try again in a minute.';

const FRIENDLY: Partial<Record<FailureCode, string>> = {
  queue_full: 'Too many requests are waiting right now. Please try again shortly.',
  queue_timeout: 'The request waited too long for a free model. Please try again.',
  deadline_exceeded: 'The request took too long. Please try again.',
  closed: 'The request was cancelled because the flow was stopped or redeployed.',
  no_candidates: 'No model is configured for this request.',
  budget_exhausted: 'The usage budget for AI requests is used up for now. Please try again later.',
};

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** The price of a candidate: its route entry's priceIn/priceOut, else its account's model spec (USD per 1M tokens). */
export function candidatePrice(c: ResolvedCandidate): Price | undefined {
  const r = c.route as RouteCandidate & { priceIn?: unknown; priceOut?: unknown };
  const spec = c.account.modelSpec(c.model) as ({ priceIn?: unknown; priceOut?: unknown } & object) | undefined;
  const inPerM = num(r.priceIn) ?? num(spec?.priceIn);
  const outPerM = num(r.priceOut) ?? num(spec?.priceOut);
  const p = { inPerM, outPerM };
  return isKnownPrice(p) ? p : undefined;
}

/** Skip reasons after which the candidate may become usable while the request waits. */
const WAITABLE: ReadonlySet<string> = new Set<SkipReason>(['capacity', 'paused', 'breaker_open', 'unhealthy', 'tokens']);

const MAX_RECORDS = 60;

interface CandState {
  c: ResolvedCandidate;
  retriesUsed: number;
  readyAt: number;
  done: boolean;
  /** skip reasons already recorded (one record per reason) */
  seen: Set<string> | null;
}

interface Run<R> {
  seq: number;
  req: ExecRequest<R>;
  priority: number;
  cands: CandState[];
  attempts: AttemptRecord[];
  t0: number;
  arrived: number;
  deadline: number;
  ac: AbortHub;
  onOuterAbort: (() => void) | null;
  settled: boolean;
  resolve: (o: ExecOutcome<R>) => void;
  busy: boolean;
  queued: boolean;
  queuedSince: number;
  queuedMs: number;
  waitingOn: ProviderAccount[] | null;
  wakeTimer: NodeJS.Timeout | null;
  started: number;
  lastError: LlmError | null;
  promptTokens: number | undefined;
}

/**
 * What account.attempt needs of an AbortSignal (aborted, add/removeEventListener),
 * without an AbortController per request: requests are aborted only on close or
 * by the caller's own signal, and this costs a fraction of an EventTarget.
 */
class AbortHub implements AbortLike {
  aborted = false;
  private listeners: Array<() => void> | null = null;

  get signal(): AbortHub {
    return this;
  }

  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const a = this.listeners;
    if (!a) return;
    const i = a.indexOf(listener);
    if (i >= 0) a.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const a = this.listeners;
    this.listeners = null;
    if (a) {
      for (const l of a) {
        try {
          l();
        } catch {
          /* a listener's failure must not stop the others */
        }
      }
    }
  }
}

function nonNeg(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt;
}

function pos(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : dflt;
}

function toUsage(r: unknown): Usage | null {
  const u = (r && typeof r === 'object' ? (r as { usage?: unknown }).usage : undefined) as Record<string, unknown> | undefined;
  if (!u || typeof u !== 'object') return null;
  const p = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0;
  const c = typeof u.completion_tokens === 'number' ? u.completion_tokens : 0;
  const t = typeof u.total_tokens === 'number' ? u.total_tokens : p + c;
  return { promptTokens: p, completionTokens: c, totalTokens: t };
}

export class FallbackExecutor<R = ChatCompletion> {
  private readonly o: {
    retries: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    maxRetryAfterMs: number;
    maxAttempts: number;
    deadlineMs: number;
    maxQueue: number;
    queueTimeoutMs: number;
    failFastWhenAllOpen: boolean;
    timeoutMs: number | undefined;
    expectedCompletionTokens: number;
    friendlyMessage: string;
  };
  private readonly registry: ProviderRegistry;
  private readonly priorities: LocalPriorityTable | null;
  private readonly ledger: UsageLedger | null;
  private readonly hooks: ExecutorHooks<R>;
  private readonly priceOf: (c: ResolvedCandidate) => Price | undefined;
  private readonly random: () => number;
  private readonly queue = new WaitQueue<Run<R>>();
  private readonly runs = new Set<Run<R>>();
  private seq = 0;
  private closing = false;
  private wakeScheduled = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;
  private readonly _stats: ExecutorStats = {
    queued: 0,
    active: 0,
    pending: 0,
    succeeded: 0,
    failed: 0,
    emergency: false,
    lastFailure: null,
    lastSuccess: null,
  };
  private readonly listeners = new Set<(s: ExecutorStats) => void>();

  constructor(options: ExecutorOptions<R> = {}) {
    this.o = {
      retries: Math.floor(nonNeg(options.retries, 2)),
      backoffBaseMs: nonNeg(options.backoffBaseMs, 250),
      backoffMaxMs: nonNeg(options.backoffMaxMs, 8000),
      maxRetryAfterMs: nonNeg(options.maxRetryAfterMs, 60_000),
      maxAttempts: Math.floor(pos(options.maxAttempts, 10)),
      deadlineMs: pos(options.deadlineMs, 300_000),
      maxQueue: Math.floor(nonNeg(options.maxQueue, 10_000)),
      queueTimeoutMs: pos(options.queueTimeoutMs, 60_000),
      failFastWhenAllOpen: options.failFastWhenAllOpen === true,
      timeoutMs: options.timeoutMs !== undefined && options.timeoutMs > 0 ? options.timeoutMs : undefined,
      expectedCompletionTokens: pos(options.expectedCompletionTokens, 512),
      friendlyMessage: typeof options.friendlyMessage === 'string' && options.friendlyMessage.trim() ? options.friendlyMessage.trim() : DEFAULT_FRIENDLY_MESSAGE,
    };
    this.registry = options.registry ?? providerRegistry;
    this.priorities = options.priorities === null ? null : (options.priorities ?? defaultPriorities);
    this.ledger = options.ledger === null ? null : (options.ledger ?? defaultLedger);
    this.hooks = options.hooks ?? {};
    this.priceOf = options.priceOf ?? candidatePrice;
    this.random = options.random ?? Math.random;
    this.unsubscribe = this.registry.onEvent((e) => {
      if (this.queue.size > 0 && (e.type === 'capacity' || e.type === 'registered')) this.scheduleWake();
    });
  }

  /** Counters for status and dashboards. */
  stats(): ExecutorStats {
    // a run is queued exactly while it is in the queue
    return { ...this._stats, queued: this.queue.size, active: this.runs.size - this.queue.size, pending: this.runs.size };
  }

  /** Requests waiting for capacity now (cheap). */
  get queuedCount(): number {
    return this.queue.size;
  }

  /** Called after every settled request (for status updates). */
  onSettled(listener: (s: ExecutorStats) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves candidates (unknown providers are dropped; see `unresolved`). */
  resolve(route: RouteCandidate[]): { candidates: ResolvedCandidate[]; unresolved: RouteCandidate[] } {
    const candidates: ResolvedCandidate[] = [];
    const unresolved: RouteCandidate[] = [];
    for (const r of route) {
      const account = this.registry.get(r.provider);
      if (!account) unresolved.push(r);
      else candidates.push({ route: r, account, model: r.model, key: `${account.name}/${r.model}` });
    }
    return { candidates, unresolved };
  }

  /** Runs one request. Never rejects. */
  execute(req: ExecRequest<R>): Promise<ExecOutcome<R>> {
    const t0 = performance.now();
    if (this.closing) return Promise.resolve(this.failure(null, 'closed', 'the node is closing', [], t0));
    const lookup = this.hooks.lookup;
    if (lookup) {
      return (async () => {
        try {
          const hit = await lookup(req);
          if (hit) return hit;
        } catch {
          /* a cache failure must not fail the request */
        }
        return this.start(req, t0);
      })();
    }
    return this.start(req, t0);
  }

  /** Aborts everything: in-flight requests are aborted, waiting ones fail with 'closed'. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    this.unsubscribe();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    const pending = [...this.runs];
    const settledAll = Promise.all(pending.map((r) => new Promise<void>((res) => {
      const orig = r.resolve;
      if (r.settled) return res();
      r.resolve = (o) => {
        orig(o);
        res();
      };
    })));
    for (const r of pending) r.ac.abort();
    let timer: NodeJS.Timeout | null = null;
    await Promise.race([settledAll, new Promise<void>((res) => (timer = setTimeout(res, timeoutMs)))]);
    if (timer) clearTimeout(timer);
    for (const r of [...this.runs]) this.finishFail(r, 'closed', 'the node closed before the request finished');
    this.listeners.clear();
  }

  // --- a run -------------------------------------------------------------------------

  private start(req: ExecRequest<R>, t0: number): Promise<ExecOutcome<R>> {
    let resolved: ResolvedCandidate[];
    let unresolved: RouteCandidate[];
    try {
      ({ candidates: resolved, unresolved } = this.resolve(Array.isArray(req.route) ? req.route : []));
      if (this.hooks.order && resolved.length > 0) resolved = this.hooks.order(resolved, req) ?? resolved;
    } catch (e) {
      if (e instanceof PlanRejection) return Promise.resolve(this.failure(null, e.code, e.message, [], t0));
      return Promise.resolve(this.failure(null, 'internal', `ordering candidates failed: ${(e as Error)?.message ?? e}`, [], t0));
    }
    const attempts: AttemptRecord[] = unresolved.map((u) => ({
      provider: u.provider,
      model: u.model,
      outcome: 'skipped',
      code: 'unknown_provider',
      message: `no llm-provider with id or name "${u.provider}" is deployed`,
      atMs: 0,
    }));
    if (resolved.length === 0) {
      const why = unresolved.length ? `no deployed provider for: ${unresolved.map((u) => u.provider).join(', ')}` : 'the request has no candidates';
      return Promise.resolve(this.failure(null, 'no_candidates', why, attempts, t0));
    }
    const now = Date.now();
    return new Promise<ExecOutcome<R>>((resolve) => {
      const run: Run<R> = {
        seq: ++this.seq,
        req,
        priority: typeof req.priority === 'number' && Number.isFinite(req.priority) ? req.priority : 0,
        cands: resolved.map((c) => ({ c, retriesUsed: 0, readyAt: 0, done: false, seen: null })),
        attempts,
        t0,
        arrived: now,
        deadline: now + this.o.deadlineMs,
        ac: new AbortHub(),
        onOuterAbort: null,
        settled: false,
        resolve,
        busy: false,
        queued: false,
        queuedSince: 0,
        queuedMs: 0,
        waitingOn: null,
        wakeTimer: null,
        started: 0,
        lastError: null,
        promptTokens: undefined,
      };
      this.runs.add(run);
      const outer = req.signal;
      if (outer) {
        if (outer.aborted) run.ac.abort();
        else {
          run.onOuterAbort = () => run.ac.abort();
          outer.addEventListener('abort', run.onOuterAbort, { once: true });
        }
      }
      run.ac.signal.addEventListener(
        'abort',
        () => {
          if (!run.busy && !run.settled) this.finishFail(run, 'closed', this.closing ? 'the node closed before the request finished' : 'the request was aborted');
        },
        { once: true },
      );
      if (run.ac.signal.aborted) {
        this.finishFail(run, 'closed', 'the request was aborted');
        return;
      }
      // Requests already waiting go first: join the queue behind them.
      if (this.queue.size > 0) {
        this.park(run, Infinity);
        this.scheduleWake();
        return;
      }
      void this.drive(run);
    });
  }

  private async drive(run: Run<R>): Promise<void> {
    if (run.busy || run.settled) return;
    run.busy = true;
    try {
      while (!run.settled) {
        if (run.ac.signal.aborted) {
          this.finishFail(run, 'closed', this.closing ? 'the node closed before the request finished' : 'the request was aborted');
          return;
        }
        const now = Date.now();
        if (now >= run.deadline) {
          this.finishFail(run, 'deadline_exceeded', `no answer within ${this.o.deadlineMs} ms`);
          return;
        }
        let startedOne = false;
        let waitable = false;
        let allOpen = true;
        let earliest = Infinity;
        for (const cs of run.cands) {
          if (cs.done) continue;
          if (cs.readyAt > now) {
            waitable = true;
            allOpen = false;
            if (cs.readyAt < earliest) earliest = cs.readyAt;
            continue;
          }
          const { account, model } = cs.c;
          if (this.priorities && !this.priorities.allows(account.name, model)) {
            this.skip(run, cs, 'priority_zero', 'local priority is 0 (or the channel is disabled)');
            cs.done = true;
            continue;
          }
          const cw = account.contextWindow(model);
          if (cw !== undefined) {
            const need = this.promptTokens(run);
            if (need > cw) {
              this.skip(run, cs, 'context_too_small', `about ${need} prompt tokens, context window ${cw}`);
              cs.done = true;
              continue;
            }
          }
          if (this.started(run) >= this.o.maxAttempts) break;
          const tokens = account.limiter.tokens ? this.tokenEstimate(run) : undefined;
          if (this.hooks.beforeAttempt) {
            try {
              this.hooks.beforeAttempt(cs.c, run.req);
            } catch {
              /* hooks must not break the request */
            }
          }
          const res = await account.attempt<R>(
            model,
            { body: run.req.body, signal: run.ac.signal, timeoutMs: run.req.timeoutMs ?? this.o.timeoutMs, tokens },
            run.req.send,
          );
          if (run.settled) return;
          if (res.kind === 'skipped') {
            this.skip(run, cs, res.reason);
            if (WAITABLE.has(res.reason)) {
              waitable = true;
              if (res.reason !== 'breaker_open' && res.reason !== 'unhealthy') allOpen = false;
            } else cs.done = true;
            continue;
          }
          startedOne = true;
          run.started++;
          if (run.queued) this.unpark(run);
          if (res.kind === 'ok') {
            this.succeed(run, cs, res.value, res.latencyMs);
            return;
          }
          this.failed(run, cs, res.error, res.latencyMs);
          break; // start again from the best candidate
        }
        if (run.settled) return;
        if (startedOne) continue;
        if (this.started(run) >= this.o.maxAttempts) {
          this.finishFail(run, 'all_candidates_failed', `gave up after ${run.started} attempts`);
          return;
        }
        if (!waitable) {
          this.finishFail(run, 'all_candidates_failed', 'every candidate failed or is unavailable');
          return;
        }
        if (allOpen && this.o.failFastWhenAllOpen) {
          this.finishFail(run, 'all_breakers_open', 'every candidate\'s circuit breaker is open');
          return;
        }
        this.park(run, earliest);
        return;
      }
    } catch (e) {
      this.finishFail(run, 'internal', `unexpected error: ${(e as Error)?.message ?? String(e)}`);
    } finally {
      run.busy = false;
    }
  }

  private started(run: Run<R>): number {
    return run.started;
  }

  private promptTokens(run: Run<R>): number {
    if (run.promptTokens === undefined) run.promptTokens = estimatePromptTokens(run.req.body);
    return run.promptTokens;
  }

  private tokenEstimate(run: Run<R>): number {
    return this.promptTokens(run) + (requestedCompletionTokens(run.req.body) ?? this.o.expectedCompletionTokens);
  }

  private backoff(n: number): number {
    const cap = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** Math.max(0, n - 1));
    return Math.floor(this.random() * cap);
  }

  private record(run: Run<R>, cs: CandState, rec: Omit<AttemptRecord, 'provider' | 'model' | 'atMs'>): void {
    const full: AttemptRecord = { provider: cs.c.account.name, model: cs.c.model, ...rec, atMs: Math.round(performance.now() - run.t0) };
    if (run.attempts.length < MAX_RECORDS) run.attempts.push(full);
    if (this.hooks.onAttempt) {
      try {
        this.hooks.onAttempt(full, cs.c, run.req);
      } catch {
        /* hooks must not break the request */
      }
    }
  }

  private skip(run: Run<R>, cs: CandState, reason: string, message?: string): void {
    if (!cs.seen) cs.seen = new Set();
    if (cs.seen.has(reason)) return;
    cs.seen.add(reason);
    this.record(run, cs, { outcome: 'skipped', code: reason, ...(message ? { message } : {}) });
  }

  private failed(run: Run<R>, cs: CandState, e: LlmError, latencyMs: number): void {
    run.lastError = e;
    this.record(run, cs, {
      outcome: 'error',
      code: e.code,
      ...(e.status !== undefined ? { status: e.status } : {}),
      message: e.message,
      latencyMs: Math.round(latencyMs * 100) / 100,
      ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    });
    if (e.code === 'aborted') {
      if (run.ac.signal.aborted) {
        this.finishFail(run, 'closed', this.closing ? 'the node closed before the request finished' : 'the request was aborted');
      } else cs.done = true; // the account closed under us
      return;
    }
    if (e.fatal) {
      this.finishFail(run, 'invalid_request', `${cs.c.key} rejected the request: ${e.message}`, e.status);
      return;
    }
    if (e.code === 'context_length') {
      cs.done = true;
      const cw = cs.c.account.contextWindow(cs.c.model);
      if (cw !== undefined) {
        for (const other of run.cands) {
          if (other.done) continue;
          const ocw = other.c.account.contextWindow(other.c.model);
          if (ocw !== undefined && ocw <= cw) {
            other.done = true;
            this.skip(run, other, 'context_too_small', `context window ${ocw} is not larger than ${cw}`);
          }
        }
      }
      return;
    }
    if (!e.retryable) {
      cs.done = true;
      return;
    }
    cs.retriesUsed++;
    if (cs.retriesUsed > this.o.retries) {
      cs.done = true;
      return;
    }
    const ra = e.retryAfterMs;
    if (ra !== undefined && ra > this.o.maxRetryAfterMs) {
      cs.done = true;
      return;
    }
    cs.readyAt = Date.now() + Math.max(this.backoff(cs.retriesUsed), ra ?? 0);
  }

  private succeed(run: Run<R>, cs: CandState, response: R, latencyMs: number): void {
    this.record(run, cs, { outcome: 'ok', latencyMs: Math.round(latencyMs * 100) / 100 });
    const later = response && typeof response === 'object' ? (response as { [DEFERRED_COMPLETION]?: Promise<DeferredCompletion> })[DEFERRED_COMPLETION] : undefined;
    const usage = later ? null : toUsage(response);
    let text: string;
    try {
      text = this.hooks.text ? this.hooks.text(response) : completionText(response as unknown as ChatCompletion);
    } catch {
      text = '';
    }
    const { account, model } = cs.c;
    let price: Price | undefined;
    try {
      price = this.priceOf(cs.c);
    } catch {
      price = undefined;
    }
    const out: ExecSuccess<R> = {
      ok: true,
      response,
      text,
      provider: account.name,
      providerId: account.id,
      model,
      upstreamModel: account.modelSpec(model)?.upstream ?? model,
      attempts: run.attempts,
      latencyMs: Math.round((performance.now() - run.t0) * 100) / 100,
      queuedMs: Math.round(run.queuedMs),
      usage,
      usd: usage && price ? costOf(usage, price) : null,
      cached: false,
    };
    this._stats.succeeded++;
    this._stats.emergency = false;
    this._stats.lastSuccess = { provider: account.name, model, latencyMs: out.latencyMs, at: Date.now() };
    const finish = (o: ExecSuccess<R>): void => {
      if (this.ledger) {
        this.ledger
          .record({
            provider: account.name,
            model,
            promptTokens: o.usage?.promptTokens ?? 0,
            completionTokens: o.usage?.completionTokens ?? 0,
            totalTokens: o.usage?.totalTokens ?? 0,
            ...(o.usd !== null ? { usd: o.usd } : {}),
          })
          .catch(() => undefined);
      }
      if (this.hooks.onSuccess) {
        try {
          this.hooks.onSuccess(o, run.req);
        } catch {
          /* hooks must not break the request */
        }
      }
    };
    if (later) {
      out.finalized = Promise.resolve(later)
        .catch((e: unknown): DeferredCompletion => ({ ok: false, usage: null, error: String((e as Error)?.message ?? e) }))
        .then((d) => {
          const u = d && d.usage ? d.usage : null;
          const fin: ExecSuccess<R> = { ...out, usage: u, usd: u && price ? costOf(u, price) : null, stream: { ok: !!d?.ok, ...(d?.error ? { error: d.error } : {}) } };
          finish(fin);
          return fin;
        });
    } else finish(out);
    this.settle(run, out);
  }

  private failure(run: Run<R> | null, code: FailureCode, detail: string, attempts: AttemptRecord[], t0: number, status?: number): ExecFailure {
    const emergency = code === 'all_candidates_failed' || code === 'all_breakers_open';
    let message = FRIENDLY[code] ?? this.o.friendlyMessage;
    if (code === 'invalid_request') message = `The request was rejected as invalid. ${detail}`;
    const out: ExecFailure = {
      ok: false,
      code,
      message,
      detail,
      attempts,
      latencyMs: Math.round((performance.now() - t0) * 100) / 100,
      emergency,
    };
    if (status !== undefined) out.status = status;
    if (run === null) {
      this._stats.failed++;
      this._stats.lastFailure = { code, detail, at: Date.now() };
    }
    return out;
  }

  private finishFail(run: Run<R>, code: FailureCode, detail: string, status?: number): void {
    if (run.settled) return;
    let d = detail;
    const le = run.lastError;
    if (le && code !== 'invalid_request' && code !== 'closed') d = `${detail}; last error: ${le.message}`;
    const out = this.failure(run, code, d, run.attempts, run.t0, status ?? (code === 'invalid_request' ? le?.status : undefined));
    this._stats.failed++;
    this._stats.lastFailure = { code, detail: d, at: Date.now() };
    if (out.emergency) this._stats.emergency = true;
    this.settle(run, out);
  }

  private settle(run: Run<R>, out: ExecOutcome<R>): void {
    if (run.settled) return;
    run.settled = true;
    if (run.queued) this.unpark(run);
    if (run.wakeTimer) clearTimeout(run.wakeTimer);
    run.wakeTimer = null;
    if (run.onOuterAbort && run.req.signal) run.req.signal.removeEventListener('abort', run.onOuterAbort);
    this.runs.delete(run);
    run.resolve(out);
    if (this.listeners.size > 0) {
      const s = this.stats();
      for (const l of this.listeners) {
        try {
          l(s);
        } catch {
          /* ignore */
        }
      }
    }
  }

  // --- waiting -------------------------------------------------------------------------

  private park(run: Run<R>, earliest: number): void {
    if (run.settled) return;
    if (!run.queued) {
      if (this.queue.size >= this.o.maxQueue) {
        this.finishFail(run, 'queue_full', `${this.queue.size} requests are already waiting (max ${this.o.maxQueue})`);
        return;
      }
      run.queued = true;
      run.queuedSince = Date.now();
      this.queue.add(run, run.priority);
      const accs = new Set<ProviderAccount>();
      for (const cs of run.cands) if (!cs.done) accs.add(cs.c.account);
      run.waitingOn = [...accs];
      for (const a of run.waitingOn) a.addWaiting(1);
      this.ensureSweep();
    }
    if (run.wakeTimer) clearTimeout(run.wakeTimer);
    run.wakeTimer = null;
    if (earliest < Infinity) {
      run.wakeTimer = setTimeout(() => {
        run.wakeTimer = null;
        if (!run.settled && !run.busy) void this.drive(run);
      }, Math.max(0, earliest - Date.now()) + 1);
    }
  }

  private unpark(run: Run<R>): void {
    if (!run.queued) return;
    run.queued = false;
    run.queuedMs += Date.now() - run.queuedSince;
    this.queue.delete(run, run.priority);
    if (run.waitingOn) for (const a of run.waitingOn) a.addWaiting(-1);
    run.waitingOn = null;
    if (this.queue.size === 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }

  private scheduleWake(): void {
    if (this.wakeScheduled || this.closing) return;
    this.wakeScheduled = true;
    // After pending I/O: answers already received (a 429 among them) are seen first.
    setImmediate(() => {
      this.wakeScheduled = false;
      this.wake();
    });
  }

  /** Lets waiting requests start, highest priority first, as far as capacity goes. */
  private wake(): void {
    if (this.queue.size === 0) return;
    const budget = new Map<ProviderAccount, number>();
    const now = Date.now();
    let misses = 0;
    for (const run of this.queue.items()) {
      if (run.settled || run.busy) continue;
      let pick = false;
      for (const cs of run.cands) {
        if (cs.done || cs.readyAt > now) continue;
        const acc = cs.c.account;
        let left = budget.get(acc);
        if (left === undefined) {
          left = acc.availability(cs.c.model) === null ? acc.limiter.capacityHint() : 0;
          budget.set(acc, left);
        }
        if (left > 0) {
          budget.set(acc, left - 1);
          pick = true;
          break;
        }
      }
      if (pick) {
        misses = 0;
        void this.drive(run);
      } else if (++misses >= 64) break;
    }
  }

  private ensureSweep(): void {
    if (this.sweepTimer || this.closing) return;
    const every = Math.max(20, Math.min(1000, Math.floor(this.o.queueTimeoutMs / 10)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
  }

  private sweep(): void {
    const now = Date.now();
    for (const run of this.queue.items()) {
      if (run.settled || run.busy) continue;
      if (now >= run.deadline) this.finishFail(run, 'deadline_exceeded', `no answer within ${this.o.deadlineMs} ms`);
      else if (now - run.queuedSince >= this.o.queueTimeoutMs) {
        this.finishFail(run, 'queue_timeout', `waited ${now - run.queuedSince} ms for a candidate with free capacity`);
      }
    }
    // a safety net for missed capacity events
    if (this.queue.size > 0) this.scheduleWake();
  }
}
