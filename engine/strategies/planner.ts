/**
 * CandidatePlanner: the one object a call node uses per request.
 *
 *   const planner = new CandidatePlanner({ strategy: 'score', rules: {...}, budget: {...} });
 *   const plan = planner.plan(candidates, { session, estimatedTokens });
 *   if (plan.error) -> fail with plan.error.message (every candidate rejected by a budget)
 *   for (const c of plan.ordered) {
 *     planner.onStart(c.key);
 *     ... call it ...
 *     planner.onResult(c.key, { ok, latencyMs, usage, session });
 *   }
 *
 * plan() filters candidates through the budgets (a reached budget downgrades to candidates that
 * still fit, i.e. cheaper ones; free models always fit), orders the rest with the strategy, rules
 * and session affinity, and explains every position. onStart/onResult feed the live metrics,
 * the spend and the affinity. Costs a few microseconds per call; no timers, no I/O.
 */
import { BudgetTracker, type BudgetAlert, type BudgetConfig } from '../costs/budget';
import { costOf, isFree, isKnownPrice, type TokenUsage } from '../costs/pricing';
import { AffinityMap, type AffinityOptions } from './affinity';
import { MetricsWindow, type MetricsSnapshot } from './metrics';
import {
  type Candidate, type Explanation, isStrategy, orderCandidates, type OrderResult, type ScoreWeights, STRATEGIES, type Strategy,
} from './order';
import { type LiveRules, type RuleFlags, RuleState, validateRules } from './rules';
import { WrrState } from './wrr';

export interface PlannerConfig {
  /** default 'fixed' */
  strategy?: Strategy;
  /** score weights (default latency 0.4, success 0.3, cost 0.3) */
  weights?: ScoreWeights;
  /** live metrics window (default 60 000 ms in 12 buckets) */
  windowMs?: number;
  buckets?: number;
  /** an existing metrics window to share (e.g. with a dashboard); overrides windowMs/buckets */
  metrics?: MetricsWindow;
  /** live-metric rules (off unless thresholds are given) */
  rules?: LiveRules;
  /**
   * USD budgets. When set (even to {}), a request whose first choice is free never falls back to a
   * paid candidate unless allowPaidFallback is true.
   */
  budget?: BudgetConfig | BudgetTracker | null;
  /** session affinity (default on, 30 min TTL, 10 000 sessions); false = off */
  affinity?: AffinityOptions | AffinityMap | false;
  /** clock, epoch ms (default Date.now) */
  now?: () => number;
  /** budget alerts (also passed to a BudgetTracker built from `budget`) */
  onAlert?: (alert: BudgetAlert) => void;
}

export interface PlanOptions {
  session?: string;
  /** expected tokens of the request, for budget estimates and blended prices */
  estimatedTokens?: Partial<TokenUsage>;
  /** per-request strategy override */
  strategy?: Strategy;
  /** WRR group id (default: the candidate keys joined) */
  group?: string;
}

export interface Rejection {
  key: string;
  reason: string;
}

export interface PlanResult<C extends Candidate = Candidate> {
  /** candidates to try, in order */
  ordered: C[];
  /** one entry per ordered candidate, same order */
  explain: Explanation[];
  /** candidates left out, and why (budgets) */
  rejected: Rejection[];
  /** set when no candidate is left because of budgets */
  error?: { code: 'budget_exhausted'; message: string };
}

export interface ResultInfo {
  ok: boolean;
  latencyMs: number;
  /** token usage of the response; priced with the candidate's price from the last plan() */
  usage?: Partial<TokenUsage>;
  /** the request's cost when known directly (wins over usage) */
  usd?: number;
  session?: string;
}

export interface ResultEffect {
  /** USD recorded against the budgets (null = unknown price and no usd given) */
  usd: number | null;
  alerts: BudgetAlert[];
}

interface Known {
  provider: string;
  priceIn?: number;
  priceOut?: number;
}

export class CandidatePlanner {
  readonly metrics: MetricsWindow;
  readonly budget: BudgetTracker | null;
  readonly affinity: AffinityMap | null;
  readonly ruleState = new RuleState();
  readonly rrState = new WrrState();
  private strategy: Strategy;
  private readonly weights?: ScoreWeights;
  private readonly rules?: LiveRules;
  private readonly known = new Map<string, Known>();

  constructor(cfg: PlannerConfig = {}) {
    const now = cfg.now ?? Date.now;
    this.strategy = cfg.strategy ?? 'fixed';
    if (!isStrategy(this.strategy)) throw new Error(`unknown strategy "${String(cfg.strategy)}" (one of ${STRATEGIES.join(', ')})`);
    if (cfg.weights) {
      const { latency, success, cost } = cfg.weights;
      if (![latency, success, cost].every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0) || latency + success + cost <= 0) {
        throw new Error('weights.latency, weights.success and weights.cost must be numbers >= 0, not all 0');
      }
      this.weights = { latency, success, cost };
    }
    this.rules = cfg.rules ? validateRules({ ...cfg.rules }) : undefined;
    this.metrics = cfg.metrics ?? new MetricsWindow({ windowMs: cfg.windowMs, buckets: cfg.buckets, now });
    if (cfg.budget instanceof BudgetTracker) this.budget = cfg.budget;
    else if (cfg.budget) this.budget = new BudgetTracker({ now, onAlert: cfg.onAlert, ...cfg.budget });
    else this.budget = null;
    if (cfg.affinity instanceof AffinityMap) this.affinity = cfg.affinity;
    else if (cfg.affinity === false) this.affinity = null;
    else this.affinity = new AffinityMap({ now, ...(cfg.affinity ?? {}) });
  }

  get currentStrategy(): Strategy {
    return this.strategy;
  }

  /** Live-metric rules are configured. */
  get hasRules(): boolean {
    return this.rules !== undefined && (this.rules.maxErrorRate !== undefined || this.rules.maxP99Ms !== undefined);
  }

  setStrategy(s: Strategy): void {
    if (!isStrategy(s)) throw new Error(`unknown strategy "${String(s)}" (one of ${STRATEGIES.join(', ')})`);
    this.strategy = s;
  }

  /** Orders `candidates` for one request and says why; leaves out the ones a budget forbids. */
  plan<C extends Candidate>(candidates: readonly C[], opts: PlanOptions = {}): PlanResult<C> {
    const strategy = opts.strategy ?? this.strategy;
    const rejected: Rejection[] = [];
    let pool: readonly C[] = candidates;
    for (const c of candidates) this.remember(c);

    const budget = this.budget;
    if (budget) {
      const est = opts.estimatedTokens;
      const checkOpts = { session: opts.session };
      let kept: C[] | null = null;
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i];
        const estUsd = est && knownPrice(c) ? costOf(est, { inPerM: c.priceIn!, outPerM: c.priceOut! }) : 0;
        const d = budget.check(c, estUsd, checkOpts);
        if (d.allowed) {
          if (kept) kept.push(c);
        } else {
          if (!kept) kept = candidates.slice(0, i);
          rejected.push({ key: c.key, reason: d.reason ?? 'over budget' });
        }
      }
      if (kept) pool = kept;
    }

    const ordering = orderCandidates(strategy, pool, {
      metrics: this.metrics,
      weights: this.weights,
      rrState: this.rrState,
      group: opts.group,
      rules: this.rules,
      ruleState: this.rules ? this.ruleState : undefined,
      session: opts.session,
      affinity: this.affinity ?? undefined,
      tokenMix: opts.estimatedTokens,
    });
    let ordered = ordering.ordered;
    let mask: boolean[] | null = null;

    if (budget && !budget.allowPaidFallback && ordered.length > 1 && isFree(priceOf(ordered[0]))) {
      // free first choice: never let a failure turn into spend on a paid fallback
      const freeOnly: C[] = [ordered[0]];
      mask = [true];
      for (let r = 1; r < ordered.length; r++) {
        const c = ordered[r];
        const free = isFree(priceOf(c));
        mask.push(free);
        if (free) freeOnly.push(c);
        else rejected.push({ key: c.key, reason: `paid fallback after the free ${ordered[0].key} is off (allowPaidFallback)` });
      }
      ordered = freeOnly;
    }

    let error: PlanResult<C>['error'];
    if (ordered.length === 0 && rejected.length > 0) {
      error = {
        code: 'budget_exhausted',
        message: `no candidate fits the budget: ${rejected.map((r) => `${r.key}: ${r.reason}`).join('; ')}`,
      };
    }
    return new Plan(ordered, ordering, mask, rejected, error);
  }

  /** A request to `key` is starting (counts as in flight until onResult). */
  onStart(key: string): void {
    this.metrics.begin(key);
  }

  /** The request to `key` finished: feeds metrics, spend and session affinity. */
  onResult(key: string, info: ResultInfo): ResultEffect {
    this.metrics.end(key);
    this.metrics.record({ key, ok: info.ok === true, latencyMs: info.latencyMs });
    const k = this.known.get(key);
    let usd: number | null = null;
    if (typeof info.usd === 'number' && Number.isFinite(info.usd)) usd = Math.max(0, info.usd);
    else if (info.usage && k) {
      const price = priceOf(k);
      if (isKnownPrice(price)) usd = costOf(info.usage, price);
    }
    let alerts: BudgetAlert[] = [];
    if (this.budget && usd !== null && (usd > 0 || info.session !== undefined)) {
      alerts = this.budget.record(usd, { session: info.session, provider: k?.provider });
    }
    if (info.session !== undefined && this.affinity) {
      if (info.ok) this.affinity.set(info.session, key);
      else this.affinity.forget(info.session, key);
    }
    return { usd, alerts };
  }

  /** The candidate's breaker opened (or it was disabled): sessions pinned to it move on. */
  onUnavailable(key: string): void {
    this.affinity?.forgetKey(key);
  }

  snapshot(key: string): MetricsSnapshot & { flags: RuleFlags } {
    return { ...this.metrics.snapshot(key), flags: this.ruleState.flags(key) };
  }

  private remember(c: Candidate): void {
    const k = this.known.get(c.key);
    if (k && k.provider === c.provider && k.priceIn === c.priceIn && k.priceOut === c.priceOut) return;
    if (!k && this.known.size >= 10_000) this.known.delete(this.known.keys().next().value as string);
    this.known.set(c.key, { provider: c.provider, priceIn: c.priceIn, priceOut: c.priceOut });
  }
}

/** A plan; `explain` is formatted on first access. */
class Plan<C extends Candidate> implements PlanResult<C> {
  private explained?: Explanation[];

  constructor(
    readonly ordered: C[],
    private readonly ordering: OrderResult<C>,
    private readonly mask: boolean[] | null,
    readonly rejected: Rejection[],
    readonly error?: { code: 'budget_exhausted'; message: string },
  ) {}

  get explain(): Explanation[] {
    if (!this.explained) {
      const all = this.ordering.explain;
      const mask = this.mask;
      this.explained = mask ? all.filter((_, i) => mask[i]) : all;
    }
    return this.explained;
  }

  toJSON(): PlanResult<C> {
    const out: PlanResult<C> = { ordered: this.ordered, explain: this.explain, rejected: this.rejected };
    if (this.error) out.error = this.error;
    return out;
  }
}

function knownPrice(c: { priceIn?: number; priceOut?: number }): boolean {
  const a = c.priceIn;
  const b = c.priceOut;
  return typeof a === 'number' && typeof b === 'number' && a >= 0 && b >= 0 && Number.isFinite(a) && Number.isFinite(b);
}

function priceOf(c: { priceIn?: number; priceOut?: number }): { inPerM: number; outPerM: number } {
  return { inPerM: c.priceIn as number, outPerM: c.priceOut as number };
}
