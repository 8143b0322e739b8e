/**
 * Candidate ordering: a load-balancing strategy over live metrics, adjusted by live-metric rules,
 * candidate state (saturated, unhealthy) and session affinity. Every position comes with a reason.
 *
 * The final order is made of four groups, each ordered by the strategy:
 *   1. available candidates (the session's pinned candidate first, when it is available);
 *   2. candidates demoted by a live-metric rule (error rate or p99 over threshold);
 *   3. saturated candidates (at their concurrency / rate limit right now);
 *   4. unhealthy candidates (breaker open, failing health check).
 * Within group 1, when some candidate is error-demoted, other providers go before that candidate's
 * provider; when some candidate is demoted as slow, the group goes fastest first (p50).
 *
 * Strategies:
 * - fixed: the given order.
 * - weighted-round-robin: smooth WRR (nginx) over candidates with weight > 0 (default 1); only an
 *   available one can win; the winner first, then by current weight (the next winners); weight 0 =
 *   fallback only. Unavailable members keep a bounded credit (see WrrState).
 * - least-busy: fewest in-flight requests first (ties keep the given order).
 * - lowest-latency: lowest p50 of successful requests in the window first.
 * - score: weighted sum of latency (fastest p50 / p50), success rate and cost (cheapest blended
 *   price / price, so cheaper is better), weights default 0.4 / 0.3 / 0.3.
 * Unmeasured candidates (no completed request in the window) under lowest-latency and score are
 * explored first, one probe at a time: while a probe is in flight they get a neutral prior instead
 * (lowest-latency: after the measured ones; score: latency 0.5, success 1, cost as priced).
 * Because evidence leaves the window, a candidate that traffic moved away from is probed again
 * about once per window, which is how traffic returns after a recovery.
 */
import { blendedPerM, type TokenUsage } from '../costs/pricing';
import type { AffinityMap } from './affinity';
import type { MetricsSnapshot, MetricsWindow } from './metrics';
import { NO_FLAGS, type LiveRules, RuleState } from './rules';
import { WrrState } from './wrr';

export type Strategy = 'fixed' | 'weighted-round-robin' | 'least-busy' | 'lowest-latency' | 'score';
export const STRATEGIES: readonly Strategy[] = ['fixed', 'weighted-round-robin', 'least-busy', 'lowest-latency', 'score'];

export function isStrategy(s: unknown): s is Strategy {
  return typeof s === 'string' && (STRATEGIES as readonly string[]).includes(s);
}

export interface Candidate {
  /** "account/model", the key metrics, breakers and affinity use */
  key: string;
  /** provider account (llm-provider id or name) */
  provider: string;
  model: string;
  /** weighted-round-robin weight (default 1; 0 = only as a fallback) */
  weight?: number;
  /** USD per million prompt tokens */
  priceIn?: number;
  /** USD per million completion tokens */
  priceOut?: number;
  /** cannot start a request right now (concurrency or rate limit reached) */
  saturated?: boolean;
  /** false = breaker open or health check failing */
  healthy?: boolean;
}

export interface ScoreWeights {
  latency: number;
  success: number;
  cost: number;
}

export const DEFAULT_WEIGHTS: Readonly<ScoreWeights> = Object.freeze({ latency: 0.4, success: 0.3, cost: 0.3 });

export interface OrderContext {
  metrics: MetricsWindow;
  /** score weights (default 0.4 / 0.3 / 0.3), normalised to sum 1 */
  weights?: ScoreWeights;
  /** round-robin state; required for weighted-round-robin to rotate between calls */
  rrState?: WrrState;
  /** WRR group id; default: the candidate keys joined */
  group?: string;
  rules?: LiveRules;
  /** hysteresis state of the rules; required for rules to apply */
  ruleState?: RuleState;
  session?: string;
  affinity?: AffinityMap;
  /** expected prompt/completion token mix for blended prices (default 3:1) */
  tokenMix?: Partial<TokenUsage>;
}

export interface Explanation {
  key: string;
  score?: number;
  reason: string;
}

export interface OrderResult<C extends Candidate = Candidate> {
  ordered: C[];
  explain: Explanation[];
}

const UNMEASURED_LATENCY = 0.5;
const UNMEASURED_SUCCESS = 1;
const UNKNOWN_COST = 0.5;
/** USD per million added to both sides of the cost ratio, so a free model does not zero every paid one */
const COST_EPS = 0.01;

interface Entry<C extends Candidate> {
  c: C;
  i: number;
  snap: MetricsSnapshot;
  /** rule flags at planning time */
  errorsFlag: boolean;
  slowFlag: boolean;
  /** 0 available, 1 demoted, 2 saturated, 3 unhealthy */
  cls: number;
  /** sort value under the strategy, lower first */
  sortKey: number;
  /** primary sort band (exploration, WRR role), lower first */
  band: number;
  score?: number;
  blended: number | null;
  /** available, but its provider has an error-demoted candidate */
  sameProvider: boolean;
  pinned: boolean;
}

interface Describe {
  strategy: Strategy;
  rules?: LiveRules;
  windowMs: number;
  pressure: boolean;
}

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)} ms` : `${Math.round(v * 10) / 10} ms`;
}

function pct(v: number): string {
  const p = v * 100;
  return p >= 99.95 || p === Math.round(p) ? `${Math.round(p)}%` : `${p.toFixed(1)}%`;
}

function perM(v: number | null): string {
  if (v === null) return 'price unknown';
  return v === 0 ? 'free' : v < 0.01 ? `$${v.toPrecision(2)}/M` : `$${v.toFixed(2)}/M`;
}

function byBandThenKey<C extends Candidate>(a: Entry<C>, b: Entry<C>): number {
  return a.band - b.band || a.sortKey - b.sortKey || a.i - b.i;
}

function strategyReason<C extends Candidate>(e: Entry<C>, strategy: Strategy): string {
  const s = e.snap;
  switch (strategy) {
    case 'fixed':
      return `position ${e.i + 1} in the configured order`;
    case 'weighted-round-robin': {
      const w = e.c.weight ?? 1;
      if (e.band === 0) return `weighted round robin: picked (weight ${w})`;
      if (e.band === 1) return `weighted round robin: weight ${w}`;
      return `weighted round robin: weight ${w}, fallback only`;
    }
    case 'least-busy':
      return `${s.inFlight} in flight`;
    case 'lowest-latency':
      if (s.requests === 0) return e.band === 0 ? 'unmeasured: explored first' : 'unmeasured, probe in flight: after measured candidates';
      if (s.p50Ms === null) return `no successful request in the window (${s.failures} failed)`;
      return `p50 ${ms(s.p50Ms)}`;
    case 'score': {
      const score = (e.score ?? 0).toFixed(2);
      if (s.requests === 0) {
        return e.band === 0
          ? `unmeasured: explored first (prior score ${score}, ${perM(e.blended)})`
          : `score ${score} (unmeasured, probe in flight; neutral prior): ${perM(e.blended)}`;
      }
      const p50 = s.p50Ms !== null ? `p50 ${ms(s.p50Ms)}` : 'no successful request';
      return `score ${score}: ${p50}, success ${pct(s.successRate ?? 0)}, ${perM(e.blended)}`;
    }
  }
}

function describe<C extends Candidate>(e: Entry<C>, d: Describe): string {
  let r = strategyReason(e, d.strategy);
  if (e.cls === 0) {
    if (d.pressure) r += '; latency pressure: fastest first';
    if (e.sameProvider) r += `; provider ${e.c.provider} has a demoted candidate`;
    if (e.pinned) r = `session affinity; ${r}`;
  } else if (e.cls === 1) {
    const why: string[] = [];
    if (e.errorsFlag) why.push(`error rate ${pct(e.snap.errorRate ?? 0)} > ${pct(d.rules?.maxErrorRate ?? 0)}`);
    if (e.slowFlag) why.push(`p99 ${ms(e.snap.p99Ms ?? 0)} > ${ms(d.rules?.maxP99Ms ?? 0)}`);
    r = `demoted: ${why.join(', ')} in the ${Math.round(d.windowMs / 1000)} s window; ${r}`;
  } else if (e.cls === 2) {
    r = `saturated (at its limit now); ${r}`;
  } else {
    r = `unhealthy (breaker open or failing health check); ${r}`;
  }
  return r;
}

/**
 * The result of an ordering. `explain` is built on first access (formatting the reasons costs
 * more than ordering), and reflects the metrics as they were when the order was made.
 */
class Ordering<C extends Candidate> implements OrderResult<C> {
  readonly ordered: C[];
  private explained?: Explanation[];

  constructor(private readonly entries: Entry<C>[], private readonly d: Describe) {
    const ordered: C[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) ordered[i] = entries[i].c;
    this.ordered = ordered;
  }

  get explain(): Explanation[] {
    if (!this.explained) {
      this.explained = this.entries.map((e) => (e.score === undefined
        ? { key: e.c.key, reason: describe(e, this.d) }
        : { key: e.c.key, score: e.score, reason: describe(e, this.d) }));
    }
    return this.explained;
  }

  toJSON(): { ordered: C[]; explain: Explanation[] } {
    return { ordered: this.ordered, explain: this.explain };
  }
}

/** Orders `candidates` for one request. Pure apart from the WRR, rule and affinity state in `ctx`. */
export function orderCandidates<C extends Candidate>(strategy: Strategy, candidates: readonly C[], ctx: OrderContext): OrderResult<C> {
  if (!isStrategy(strategy)) throw new Error(`unknown strategy "${String(strategy)}" (one of ${STRATEGIES.join(', ')})`);
  const n = candidates.length;
  const entries: Entry<C>[] = new Array(n);
  const rules = ctx.rules && ctx.ruleState ? ctx.rules : undefined;
  let anySlow = false;
  let errorProviders: Set<string> | null = null;
  for (let i = 0; i < n; i++) {
    const c = candidates[i];
    const snap = ctx.metrics.snapshot(c.key);
    const flags = rules ? ctx.ruleState!.evaluate(c.key, snap, rules) : NO_FLAGS;
    let cls = 0;
    if (c.healthy === false) cls = 3;
    else if (c.saturated) cls = 2;
    else if (flags.errors || flags.slow) cls = 1;
    if (flags.slow) anySlow = true;
    if (flags.errors) (errorProviders ??= new Set()).add(c.provider);
    const pin = c.priceIn;
    const pout = c.priceOut;
    const known = typeof pin === 'number' && typeof pout === 'number' && pin >= 0 && pout >= 0 && Number.isFinite(pin) && Number.isFinite(pout);
    entries[i] = {
      c, i, snap, errorsFlag: flags.errors, slowFlag: flags.slow, cls, sortKey: 0, band: 0, score: undefined,
      blended: known ? blendedPerM({ inPerM: pin, outPerM: pout }, ctx.tokenMix) : null,
      sameProvider: false, pinned: false,
    };
  }

  // Session affinity: the pinned candidate goes first while it is available; an error-demoted
  // or unhealthy pin is dropped so the session moves on.
  let pinned: Entry<C> | undefined;
  if (ctx.session !== undefined && ctx.affinity) {
    const key = ctx.affinity.get(ctx.session);
    if (key !== undefined) {
      let e: Entry<C> | undefined;
      for (let i = 0; i < n; i++) if (entries[i].c.key === key) { e = entries[i]; break; }
      if (e && e.cls === 0) pinned = e;
      else if (e && (e.cls === 3 || e.errorsFlag)) ctx.affinity.forget(ctx.session, key);
    }
  }

  switch (strategy) {
    case 'fixed':
      for (const e of entries) e.sortKey = e.i;
      break;
    case 'weighted-round-robin':
      applyWrr(entries, ctx, pinned !== undefined);
      break;
    case 'least-busy':
      for (const e of entries) e.sortKey = e.snap.inFlight;
      break;
    case 'lowest-latency':
      for (const e of entries) {
        if (e.snap.requests === 0) e.band = e.snap.inFlight === 0 ? 0 : 2;
        else if (e.snap.p50Ms === null) e.band = 2;
        else {
          e.band = 1;
          e.sortKey = e.snap.p50Ms;
        }
      }
      break;
    case 'score':
      applyScore(entries, ctx.weights ?? DEFAULT_WEIGHTS);
      break;
  }

  let out: Entry<C>[];
  if (n <= 1) {
    out = entries;
  } else {
    const groups: Entry<C>[][] = [[], [], [], []];
    for (const e of entries) groups[e.cls].push(e);
    for (const g of groups) if (g.length > 1) g.sort(byBandThenKey);
    let avail = groups[0];
    if (anySlow && avail.length > 1) {
      // latency pressure: fastest measured first, unmeasured after them in strategy order (stable sort)
      avail.sort((a, b) => (a.snap.p50Ms ?? Infinity) - (b.snap.p50Ms ?? Infinity) || 0);
    }
    if (errorProviders && avail.length > 1) {
      const other: Entry<C>[] = [];
      const same: Entry<C>[] = [];
      for (const e of avail) (errorProviders.has(e.c.provider) ? same : other).push(e);
      if (other.length && same.length) {
        for (const e of same) e.sameProvider = true;
        avail = other.concat(same);
      }
    }
    if (pinned) {
      const at = avail.indexOf(pinned);
      if (at > 0) {
        avail.splice(at, 1);
        avail.unshift(pinned);
      }
    }
    out = avail.concat(groups[1], groups[2], groups[3]);
  }
  if (pinned) pinned.pinned = true;
  return new Ordering(out, { strategy, rules, windowMs: ctx.metrics.windowMs, pressure: anySlow });
}

function applyWrr<C extends Candidate>(entries: Entry<C>[], ctx: OrderContext, skipStep: boolean): void {
  const n = entries.length;
  const keys: string[] = new Array(n);
  const weights: number[] = new Array(n);
  const eligible: boolean[] = new Array(n);
  let group = ctx.group;
  for (let i = 0; i < n; i++) {
    const e = entries[i];
    keys[i] = e.c.key;
    const w = e.c.weight ?? 1;
    weights[i] = Number.isFinite(w) && w > 0 ? w : 0;
    eligible[i] = e.cls === 0;
  }
  if (group === undefined) group = n === 1 ? keys[0] : keys.join('\u0000');
  const current: number[] = new Array(n).fill(0);
  let winner = -1;
  if (ctx.rrState && !skipStep) winner = ctx.rrState.pick(group, keys, weights, eligible, current);
  for (let i = 0; i < n; i++) {
    const e = entries[i];
    if (i === winner) {
      e.band = 0;
    } else if (weights[i] > 0) {
      e.band = 1;
      e.sortKey = -current[i];
    } else {
      e.band = 2;
    }
  }
}

function applyScore<C extends Candidate>(entries: Entry<C>[], w: ScoreWeights): void {
  const sum = w.latency + w.success + w.cost;
  const wl = sum > 0 ? w.latency / sum : 0;
  const ws = sum > 0 ? w.success / sum : 0;
  const wc = sum > 0 ? w.cost / sum : 0;
  let minP50 = Infinity;
  let minCost = Infinity;
  for (const e of entries) {
    if (e.snap.p50Ms !== null && e.snap.p50Ms < minP50) minP50 = e.snap.p50Ms;
    if (e.blended !== null && e.blended < minCost) minCost = e.blended;
  }
  for (const e of entries) {
    const s = e.snap;
    const lat = s.p50Ms !== null ? Math.max(minP50, 0.5) / Math.max(s.p50Ms, 0.5) : UNMEASURED_LATENCY;
    const succ = s.successRate ?? UNMEASURED_SUCCESS;
    const cost = e.blended !== null ? (minCost + COST_EPS) / (e.blended + COST_EPS) : UNKNOWN_COST;
    const score = Math.round((wl * lat + ws * succ + wc * cost) * 1000) / 1000;
    e.score = score;
    e.sortKey = -score;
    e.band = s.requests === 0 && s.inFlight === 0 ? 0 : 1;
  }
}

export { RuleState, WrrState };
