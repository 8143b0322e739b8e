/**
 * One account of an OpenAI-compatible API (what an llm-provider config node
 * holds): its HTTP client, its limiter (requests/tokens per window,
 * concurrency, 429 pauses) and one opossum circuit breaker per model. Every node
 * using the account shares all three.
 *
 * `attempt()` is the only way requests reach the account. It checks, in order:
 * closed, model served, breaker (open, or its half-open probe already taken),
 * health probe, pause; then asks the limiter to start the request now. A
 * request that cannot start is reported as skipped (nothing was sent), so the
 * caller can spill over to the next candidate or queue.
 */
import CircuitBreaker from 'opossum';
import type Bottleneck from 'bottleneck';
import { LlmError, classifyException } from '../errors/classify';
import { AccountLimiter, type AccountLimits, type LimiterOptions, type RunControl } from '../limits/account-limiter';
import type { ClusteredAccountLimiter, ClusterSettings, ClusterState } from '../shared-store/clustered-account-limiter';
import type { BreakerState, ProviderSnapshot } from '../routing/types';
import { redactText } from '../secrets/redact';
import { createHttpClient, isNotSent, normalizeBaseUrl, sendChatCompletion, type ChatCompletion, type HttpClient, type SendFn } from './transport';

export interface ModelSpec {
  /** the model name flows use */
  name: string;
  /** the name sent upstream, when different */
  upstream?: string;
  /** context window in tokens, when known */
  contextWindow?: number;
  /** price of prompt (input) tokens, USD per 1M tokens, when known */
  priceIn?: number;
  /** price of completion (output) tokens, USD per 1M tokens, when known */
  priceOut?: number;
}

export interface BreakerSettings {
  /** consecutive failures that open the breaker (default 5) */
  failureThreshold?: number;
  /** failure percentage in the rolling window that opens it (default 50) ... */
  errorThresholdPercentage?: number;
  /** ... once at least this many calls were made in the window (default 20) */
  volumeThreshold?: number;
  /** how long it stays open before one probe request is let through (default 30 000 ms) */
  resetTimeoutMs?: number;
  /** rolling window for the percentage (default 10 000 ms) */
  rollingWindowMs?: number;
}

export interface HealthProbeSettings {
  /** ms between probes */
  intervalMs: number;
  /** 'models' = GET /models (default, costs nothing); 'completion' = a 1-token completion through the limiter */
  mode?: 'models' | 'completion';
  /** model for 'completion' (default: the first listed) */
  model?: string;
  /** probe timeout (default min(10 s, account timeout)) */
  timeoutMs?: number;
}

export interface ProviderAccountConfig {
  /** llm-provider config node id */
  id: string;
  /** the account label users see (default: the id) */
  name?: string;
  /** e.g. https://integrate.api.nvidia.com/v1 */
  baseUrl: string;
  apiKey?: string;
  /** served models; empty = any model the caller names */
  models?: ModelSpec[];
  limits?: AccountLimits;
  /** per-request timeout (default 60 000 ms) */
  timeoutMs?: number;
  breaker?: BreakerSettings;
  healthProbe?: HealthProbeSettings | null;
  /**
   * Shared store for several Node-RED instances: with a Redis URL the account's
   * limits (requests/tokens per window, concurrency, 429 pauses) are shared by
   * every instance using the same account id (ClusteredAccountLimiter).
   */
  redisUrl?: string;
  /** Share of the account this instance uses while Redis is unreachable (0 < share <= 1; default 1/instances seen, else 1). */
  fallbackShare?: number | null;
  /** Tuning of the shared limits (tests, time-scaled setups). */
  sharedStore?: Omit<ClusterSettings, 'redis' | 'accountId' | 'fallbackShare'>;
  /** extra headers for every request */
  headers?: Record<string, string>;
  /** how long a concurrency slot stays taken after a request was aborted (default 20 ms) */
  abortGraceMs?: number;
  /** wait after a 429 without Retry-After (default 1000 ms) */
  defaultRetryAfterMs?: number;
  /** replaces how the account's bottleneck limiters are built (clustering, tests) */
  createLimiter?: (options: LimiterOptions) => Bottleneck;
}

export type SkipReason = 'closed' | 'model_not_served' | 'breaker_open' | 'unhealthy' | 'paused' | 'capacity' | 'tokens' | 'too_large';

export type AttemptResult<R> =
  | { kind: 'skipped'; reason: SkipReason }
  | { kind: 'ok'; value: R; latencyMs: number }
  | { kind: 'error'; error: LlmError; latencyMs: number };

/** The parts of an AbortSignal an attempt uses (an AbortSignal, or a lighter stand-in). */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface AttemptOptions {
  /** OpenAI request body; `model` is replaced by the mapped upstream name */
  body: Record<string, unknown>;
  /** aborts the attempt (an AbortSignal or anything with the same three members) */
  signal?: AbortSignal | AbortLike;
  /** overrides the account's timeout */
  timeoutMs?: number;
  /** estimated tokens (prompt + expected completion) for the tpm limit */
  tokens?: number;
  /** bottleneck priority 0..9 */
  priority?: number;
}

export type AccountEvent =
  | { type: 'capacity'; account: ProviderAccount }
  | { type: 'breaker'; account: ProviderAccount; model: string; state: BreakerState }
  | { type: 'health'; account: ProviderAccount; healthy: boolean }
  /** shared limits: joined Redis, or using local limits while it is unreachable */
  | { type: 'shared'; account: ProviderAccount; state: 'connected' | 'local-fallback' };

type Listener = (e: AccountEvent) => void;

interface ModelState {
  spec: ModelSpec;
  breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  consecutive: number;
}

const MAX_ADHOC_MODELS = 200;
const RECENT = 200;

function posNum(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : dflt;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export class ProviderAccount {
  readonly id: string;
  readonly name: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly redisUrl: string | undefined;
  readonly limiter: AccountLimiter;
  /** the shared limiter, when the account has a Redis URL */
  private readonly clustered: ClusteredAccountLimiter | null = null;

  private readonly apiKey: string;
  private readonly http: HttpClient;
  private readonly listed: ModelSpec[];
  private readonly models = new Map<string, ModelState>();
  private readonly breakerCfg: Required<BreakerSettings>;
  private readonly abortGraceMs: number;
  private readonly defaultRetryAfterMs: number;
  private readonly inflight = new Set<AbortController>();
  private readonly listeners = new Set<Listener>();
  private readonly probe: HealthProbeSettings | null;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  private _healthy: boolean | null = null;
  private _closed = false;
  private waitingCount = 0;
  // rolling outcomes for snapshots
  private readonly recentOk: boolean[] = [];
  private readonly recentMs: number[] = [];
  private recentPos = 0;

  constructor(cfg: ProviderAccountConfig) {
    if (!cfg || typeof cfg.id !== 'string' || cfg.id === '') throw new Error('provider account: id is required');
    this.id = cfg.id;
    this.name = typeof cfg.name === 'string' && cfg.name.trim() !== '' ? cfg.name.trim() : cfg.id;
    this.apiKey = typeof cfg.apiKey === 'string' ? cfg.apiKey.trim() : '';
    this.baseUrl = normalizeBaseUrl(cfg.baseUrl);
    this.timeoutMs = posNum(cfg.timeoutMs, 60_000);
    this.redisUrl = typeof cfg.redisUrl === 'string' && cfg.redisUrl.trim() ? cfg.redisUrl.trim() : undefined;
    this.abortGraceMs = typeof cfg.abortGraceMs === 'number' && cfg.abortGraceMs >= 0 ? cfg.abortGraceMs : 20;
    this.defaultRetryAfterMs = posNum(cfg.defaultRetryAfterMs, 1000);
    const b = cfg.breaker ?? {};
    this.breakerCfg = {
      failureThreshold: Math.max(1, Math.floor(posNum(b.failureThreshold, 5))),
      errorThresholdPercentage: Math.min(100, posNum(b.errorThresholdPercentage, 50)),
      volumeThreshold: Math.max(1, Math.floor(posNum(b.volumeThreshold, 20))),
      resetTimeoutMs: posNum(b.resetTimeoutMs, 30_000),
      rollingWindowMs: posNum(b.rollingWindowMs, 10_000),
    };
    this.listed = [];
    const seen = new Set<string>();
    for (const m of cfg.models ?? []) {
      if (!m || typeof m.name !== 'string' || m.name.trim() === '') throw new Error(`provider "${this.name}": every model needs a name`);
      const name = m.name.trim();
      if (seen.has(name)) throw new Error(`provider "${this.name}": model "${name}" is listed twice`);
      seen.add(name);
      const spec: ModelSpec = { name };
      if (typeof m.upstream === 'string' && m.upstream.trim() !== '') spec.upstream = m.upstream.trim();
      if (typeof m.contextWindow === 'number' && Number.isFinite(m.contextWindow) && m.contextWindow > 0) spec.contextWindow = Math.floor(m.contextWindow);
      for (const k of ['priceIn', 'priceOut'] as const) {
        const v = m[k];
        if (v === undefined || v === null) continue;
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`provider "${this.name}": model "${name}": ${k} must be a number >= 0 (USD per 1M tokens)`);
        spec[k] = v;
      }
      this.listed.push(spec);
    }
    if (this.redisUrl) {
      // Loaded only for shared accounts: the local path does not load the Redis client.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { ClusteredAccountLimiter: Clustered } = require('../shared-store/clustered-account-limiter') as typeof import('../shared-store/clustered-account-limiter');
      const limiter = new Clustered({
        limits: cfg.limits ?? {},
        cluster: {
          jobExpirationMs: 2 * this.timeoutMs + 10_000,
          ...cfg.sharedStore,
          redis: this.redisUrl,
          accountId: this.id,
          fallbackShare: cfg.fallbackShare,
        },
      });
      this.clustered = limiter;
      limiter.onState((state) => {
        if (state === 'connected' || state === 'local-fallback') this.emit({ type: 'shared', account: this, state });
      });
      this.limiter = limiter;
    } else this.limiter = new AccountLimiter({ limits: cfg.limits ?? {}, id: `llm-router:${this.id}`, create: cfg.createLimiter });
    this.limiter.onCapacity(() => this.emit({ type: 'capacity', account: this }));
    // A connection still being set up when a 429 pauses the account sends nothing.
    this.http = createHttpClient({
      baseUrl: this.baseUrl,
      apiKey: this.apiKey,
      headers: cfg.headers,
      holdNewConnections: () => this._closed || Date.now() < this.limiter.pausedUntil,
    });
    for (const spec of this.listed) this.modelState(spec.name);
    this.probe = cfg.healthProbe && cfg.healthProbe.intervalMs > 0 ? { ...cfg.healthProbe } : null;
    if (this.probe) this.startProbe();
  }

  /** Credentials to redact from anything shown. */
  secrets(): string[] {
    return this.apiKey ? [this.apiKey] : [];
  }

  get closed(): boolean {
    return this._closed;
  }

  /** Shared limits: null without a Redis URL, else 'connecting' | 'connected' | 'local-fallback' | 'stopped'. */
  get sharedState(): ClusterState | null {
    return this.clustered ? this.clustered.state : null;
  }

  /** The shared limiter (Redis), when the account has a Redis URL. */
  get sharedLimiter(): ClusteredAccountLimiter | null {
    return this.clustered;
  }

  get healthy(): boolean | null {
    return this._healthy;
  }

  /** The listed models (empty = any model is accepted). */
  listModels(): ModelSpec[] {
    return this.listed.map((m) => ({ ...m }));
  }

  /** The spec of `model` (exact name first, then case-insensitive); undefined when not listed. */
  modelSpec(model: string): ModelSpec | undefined {
    const exact = this.listed.find((m) => m.name === model);
    if (exact) return exact;
    const k = model.toLowerCase();
    return this.listed.find((m) => m.name.toLowerCase() === k);
  }

  servesModel(model: string): boolean {
    return this.listed.length === 0 || this.modelSpec(model) !== undefined;
  }

  contextWindow(model: string): number | undefined {
    return this.modelSpec(model)?.contextWindow;
  }

  breakerState(model: string): BreakerState {
    const st = this.models.get(this.canonical(model));
    if (!st) return 'closed';
    return st.breaker.opened ? 'open' : st.breaker.halfOpen ? 'halfOpen' : 'closed';
  }

  /** The opossum breaker of `model` (created on first use). */
  breaker(model: string): CircuitBreaker<[() => Promise<unknown>], unknown> | undefined {
    return this.modelState(model)?.breaker;
  }

  /**
   * Why a request for `model` would be skipped right now, or null if it may be
   * tried. Synchronous and cheap; `attempt` makes the real decision.
   */
  availability(model: string, tokens?: number): SkipReason | null {
    if (this._closed) return 'closed';
    if (!this.servesModel(model)) return 'model_not_served';
    const st = this.models.get(this.canonical(model));
    if (st && (st.breaker.opened || (st.breaker.halfOpen && !st.breaker.pendingClose))) return 'breaker_open';
    if (this._healthy === false) return 'unhealthy';
    if (Date.now() < this.limiter.pausedUntil) return 'paused';
    if (!this.limiter.canStartHint(tokens)) return 'capacity';
    return null;
  }

  /** Every listed model's breaker is open (or the account is closed). */
  allBreakersOpen(): boolean {
    if (this._closed) return true;
    if (this.models.size === 0) return false;
    for (const st of this.models.values()) if (!st.breaker.opened) return false;
    return true;
  }

  /** Pauses the account: nothing reaches it for `ms`. */
  pause(ms: number): void {
    this.limiter.pause(ms);
  }

  /**
   * One request to this account, through its breaker and limiter. Never throws:
   * the outcome says whether it was skipped (nothing sent), succeeded or failed.
   */
  async attempt<R = ChatCompletion>(model: string, opts: AttemptOptions, send?: SendFn<R>): Promise<AttemptResult<R>> {
    if (this._closed) return { kind: 'skipped', reason: 'closed' };
    const st = this.modelState(model);
    if (!st) return { kind: 'skipped', reason: 'model_not_served' };
    const br = st.breaker;
    if (br.opened || (br.halfOpen && !br.pendingClose)) return { kind: 'skipped', reason: 'breaker_open' };
    if (this._healthy === false) return { kind: 'skipped', reason: 'unhealthy' };
    const sendFn = (send ?? (sendChatCompletion as unknown as SendFn<R>)) as SendFn<R>;
    const upstreamModel = st.spec.upstream ?? st.spec.name;
    const timeoutMs = posNum(opts.timeoutMs, this.timeoutMs);
    let t0 = 0;
    const run = await this.limiter.tryRun<R>(
      (control) => {
        t0 = performance.now();
        return br.fire(() => this.send(sendFn, model, upstreamModel, opts, timeoutMs, control)) as Promise<R>;
      },
      {
        tokens: opts.tokens,
        priority: opts.priority,
        // The half-open probe may have been taken between the check and now.
        admit: () => br.closed || br.pendingClose,
      },
    );
    if (!run.started) {
      const r = run.reason;
      return { kind: 'skipped', reason: r === 'stopped' ? 'closed' : r === 'refused' ? 'breaker_open' : r };
    }
    try {
      const value = await run.result;
      const latencyMs = performance.now() - t0;
      st.consecutive = 0;
      this.recordOutcome(true, latencyMs);
      return { kind: 'ok', value, latencyMs };
    } catch (err) {
      const latencyMs = performance.now() - t0;
      if (isNotSent(err)) return { kind: 'skipped', reason: this._closed ? 'closed' : 'paused' };
      const e = (err as { code?: string })?.code === 'EOPENBREAKER' ? null : classifyException(err, { secrets: this.secrets() });
      if (!e) return { kind: 'skipped', reason: 'breaker_open' };
      if (e.breakerFailure) {
        st.consecutive++;
        if (st.consecutive >= this.breakerCfg.failureThreshold && !br.opened) br.open();
      }
      if (e.code !== 'aborted') this.recordOutcome(false, latencyMs);
      return { kind: 'error', error: e, latencyMs };
    }
  }

  /** How many queued requests could use this account (maintained by executors). */
  addWaiting(delta: number): void {
    this.waitingCount = Math.max(0, this.waitingCount + delta);
  }

  /** Closes every breaker; returns how many were not closed. */
  resetBreakers(): number {
    let n = 0;
    for (const st of this.models.values()) {
      if (!st.breaker.closed) {
        n++;
        st.breaker.close();
      }
      st.consecutive = 0;
    }
    return n;
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): ProviderSnapshot {
    const c = this.limiter.counts();
    const breakers = [...this.models.values()].map((st) => ({
      model: st.spec.name,
      state: (st.breaker.opened ? 'open' : st.breaker.halfOpen ? 'halfOpen' : 'closed') as BreakerState,
      failures: st.consecutive,
    }));
    const n = this.recentOk.length;
    let ok = 0;
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      if (this.recentOk[i]) {
        ok++;
        lat.push(this.recentMs[i]);
      }
    }
    lat.sort((a, b) => a - b);
    const p50 = percentile(lat, 50);
    return {
      id: this.id,
      name: this.name,
      rpmUsed: c.startedInWindow,
      rpmLimit: c.rpm,
      inFlight: c.inFlight,
      maxConcurrent: c.maxConcurrent,
      queued: this.waitingCount,
      breakers,
      healthy: this.probe ? this._healthy : null,
      shared: this.clustered ? (this.clustered.state === 'connected' ? 'connected' : 'local-fallback') : null,
      successRate: n > 0 ? ok / n : null,
      p50LatencyMs: p50 === null ? null : Math.round(p50 * 100) / 100,
    };
  }

  /** Aborts in-flight requests, stops probes, breakers and the limiter, closes sockets. */
  async close(): Promise<void> {
    if (this._closed) return;
    this._closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    for (const ac of this.inflight) ac.abort();
    this.inflight.clear();
    for (const st of this.models.values()) st.breaker.shutdown();
    await this.limiter.stop();
    this.http.destroy();
    this.listeners.clear();
  }

  // --- internals -------------------------------------------------------------------

  private canonical(model: string): string {
    return this.modelSpec(model)?.name ?? model;
  }

  private modelState(model: string): ModelState | undefined {
    const spec = this.modelSpec(model);
    if (!spec && this.listed.length > 0) return undefined;
    const name = spec?.name ?? model;
    let st = this.models.get(name);
    if (st) return st;
    if (!spec && this.models.size >= MAX_ADHOC_MODELS) return undefined;
    const cfg = this.breakerCfg;
    const breaker = new CircuitBreaker<[() => Promise<unknown>], unknown>((fn: () => Promise<unknown>) => fn(), {
      name: `${this.name}/${name}`,
      timeout: false,
      resetTimeout: cfg.resetTimeoutMs,
      errorThresholdPercentage: cfg.errorThresholdPercentage,
      volumeThreshold: cfg.volumeThreshold,
      rollingCountTimeout: cfg.rollingWindowMs,
      rollingCountBuckets: 10,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      // Only failures that say the account+model is unhealthy count; 429s,
      // invalid requests and aborts do not.
      errorFilter: (err: unknown) => (err instanceof LlmError ? !err.breakerFailure : isNotSent(err)),
    });
    st = { spec: spec ?? { name }, breaker, consecutive: 0 };
    const state = st;
    breaker.on('open', () => this.emit({ type: 'breaker', account: this, model: name, state: 'open' }));
    breaker.on('halfOpen', () => {
      this.emit({ type: 'breaker', account: this, model: name, state: 'halfOpen' });
      this.emit({ type: 'capacity', account: this });
    });
    breaker.on('close', () => {
      state.consecutive = 0;
      this.emit({ type: 'breaker', account: this, model: name, state: 'closed' });
      this.emit({ type: 'capacity', account: this });
    });
    this.models.set(name, st);
    return st;
  }

  private async send<R>(
    sendFn: SendFn<R>,
    model: string,
    upstreamModel: string,
    opts: AttemptOptions,
    timeoutMs: number,
    control: RunControl,
  ): Promise<R> {
    const ac = new AbortController();
    const outer = opts.signal;
    const onAbort = (): void => ac.abort();
    if (outer) {
      if (outer.aborted) ac.abort();
      else outer.addEventListener('abort', onAbort, { once: true });
    }
    this.inflight.add(ac);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    try {
      return await sendFn({
        http: this.http.axios,
        account: this.name,
        model,
        upstreamModel,
        body: { ...opts.body, model: upstreamModel },
        signal: ac.signal,
        timeoutMs,
        control,
        secrets: this.secrets(),
      });
    } catch (err) {
      if (isNotSent(err)) {
        control.notSent();
        throw err;
      }
      const aborted = ac.signal.aborted;
      const e = classifyException(err, { timedOut, aborted: aborted && !timedOut, timeoutMs, secrets: this.secrets() });
      // The server may still count an aborted request for a moment: keep its slot.
      if (aborted) control.holdSlot(this.abortGraceMs);
      // Nothing may reach the account before its Retry-After, starting now.
      if (e.code === 'rate_limited') this.limiter.pause(e.retryAfterMs ?? this.defaultRetryAfterMs);
      throw e;
    } finally {
      clearTimeout(timer);
      if (outer) outer.removeEventListener('abort', onAbort);
      this.inflight.delete(ac);
    }
  }

  private recordOutcome(ok: boolean, ms: number): void {
    if (this.recentOk.length < RECENT) {
      this.recentOk.push(ok);
      this.recentMs.push(ms);
    } else {
      this.recentOk[this.recentPos] = ok;
      this.recentMs[this.recentPos] = ms;
      this.recentPos = (this.recentPos + 1) % RECENT;
    }
  }

  private emit(e: AccountEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* listeners must not break the account */
      }
    }
  }

  private startProbe(): void {
    const p = this.probe as HealthProbeSettings;
    const tick = (): void => {
      if (this._closed || this.probing) return;
      this.probing = true;
      this.runProbe(p)
        .then((ok) => this.setHealthy(ok))
        .catch(() => this.setHealthy(false))
        .finally(() => {
          this.probing = false;
        });
    };
    this.probeTimer = setInterval(tick, p.intervalMs);
    this.probeTimer.unref?.();
    setImmediate(tick);
  }

  private async runProbe(p: HealthProbeSettings): Promise<boolean | null> {
    const timeoutMs = posNum(p.timeoutMs, Math.min(10_000, this.timeoutMs));
    const ac = new AbortController();
    this.inflight.add(ac);
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      if (p.mode === 'completion') {
        const model = p.model ?? this.listed[0]?.name;
        if (!model) return null;
        const spec = this.modelSpec(model);
        const run = await this.limiter.tryRun(async () => {
          const res = await this.http.axios.post(
            'chat/completions',
            JSON.stringify({ model: spec?.upstream ?? model, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 }),
            { signal: ac.signal },
          );
          return res.status;
        });
        if (!run.started) return null; // busy: no verdict this round
        const status = await run.result;
        return status >= 200 && status < 300;
      }
      const res = await this.http.axios.get('models', { signal: ac.signal });
      // 404/405: no models endpoint, but the server answers
      return (res.status >= 200 && res.status < 300) || res.status === 404 || res.status === 405;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
    }
  }

  private setHealthy(ok: boolean | null): void {
    if (ok === null || this._closed) return;
    if (this._healthy === ok) return;
    this._healthy = ok;
    this.emit({ type: 'health', account: this, healthy: ok });
    if (ok) this.emit({ type: 'capacity', account: this });
  }

  /** For messages: the account name, with any secret removed. */
  describe(): string {
    return redactText(`${this.name} (${this.baseUrl})`, this.secrets());
  }
}
