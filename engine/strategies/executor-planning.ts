/**
 * CandidatePlanner wired into a FallbackExecutor through its hooks:
 *
 * - `order`: every request's resolved candidates become planner candidates
 *   (key "account/model", the route entry's `weight`, the price, `saturated` =
 *   the account's limiter cannot start a request now, `healthy: false` = breaker
 *   open or failing health probe) and are put in the planner's order. A budget
 *   that leaves no candidate fails the request with code 'budget_exhausted'.
 *   The plan is kept in `req.meta.plan` (its `explain` says why each candidate
 *   is where it is).
 * - `beforeAttempt` / `onAttempt` / `onSuccess`: in-flight counts, outcomes and
 *   latencies feed the live metrics (least-busy, lowest-latency, score, rules);
 *   successes record the spend against the budgets and pin the session. A stream
 *   counts as in flight until it is over, and as failed if it broke off.
 * - `onUnavailable(key)`: call it when a candidate's breaker opens; sessions
 *   pinned to it move on.
 *
 * A request is planned only when it needs it: a strategy other than 'fixed',
 * live-metric rules, a budget, or a session with affinity on. Otherwise the
 * hooks do nothing and the configured order stands (no overhead).
 */
import { PlanRejection, candidatePrice, type AttemptRecord, type ExecRequest, type ExecSuccess, type ExecutorHooks, type ResolvedCandidate } from '../fallback/executor';
import { estimatePromptTokens, requestedCompletionTokens } from '../fallback/request';
import type { BudgetAlert } from '../costs/budget';
import type { Price } from '../costs/pricing';
import type { Candidate, Explanation } from './order';
import type { CandidatePlanner, PlanResult } from './planner';

export interface PlanningOptions {
  /** price of a candidate (default: route entry priceIn/priceOut, else the account's model spec) */
  priceOf?: (c: ResolvedCandidate) => Price | undefined;
  /** plan every request, also 'fixed' without session/budget/rules (default false) */
  always?: boolean;
  /** completion tokens assumed for budget estimates when a request sets no max_tokens (default 256) */
  expectedCompletionTokens?: number;
}

/** A planner candidate that remembers its resolved executor candidate. */
export interface PlannedCandidate extends Candidate {
  resolved: ResolvedCandidate;
}

/** What the planning leaves in req.meta. */
export interface PlanningMeta {
  plan?: PlanResult<PlannedCandidate>;
  /** USD recorded against the budgets for this request's answer (null: price unknown) */
  cost?: number | null;
  /** budget alerts this request's spend raised */
  alerts?: BudgetAlert[];
}

const PENDING = Symbol('planning.pending');
const PLANNED = Symbol('planning.planned');

type Meta = Record<string | symbol, unknown>;

function meta<R>(req: ExecRequest<R>): Meta {
  if (!req.meta) req.meta = {};
  return req.meta as Meta;
}

function sessionOf<R>(req: ExecRequest<R>): string | undefined {
  const s = req.meta?.session;
  return typeof s === 'string' && s !== '' ? s : undefined;
}

export interface PlanningHooks<R> extends Required<Pick<ExecutorHooks<R>, 'order' | 'beforeAttempt' | 'onAttempt' | 'onSuccess'>> {
  onUnavailable(key: string): void;
}

export function plannerHooks<R>(planner: CandidatePlanner, opts: PlanningOptions = {}): PlanningHooks<R> {
  const priceOf = opts.priceOf ?? candidatePrice;
  const expected = opts.expectedCompletionTokens ?? 256;
  const needsPlan = (req: ExecRequest<R>): boolean =>
    opts.always === true ||
    planner.currentStrategy !== 'fixed' ||
    planner.budget !== null ||
    planner.hasRules ||
    (planner.affinity !== null && sessionOf(req) !== undefined);

  return {
    order(candidates, req) {
      if (!needsPlan(req)) return candidates;
      const m = meta(req);
      m[PLANNED] = true;
      const prompt = estimatePromptTokens(req.body);
      const completion = requestedCompletionTokens(req.body) ?? expected;
      const cands: PlannedCandidate[] = candidates.map((c) => {
        const price = priceOf(c);
        const why = c.account.availability(c.model, prompt + completion);
        const route = c.route as { weight?: unknown };
        const pc: PlannedCandidate = { key: c.key, provider: c.account.name, model: c.model, resolved: c };
        if (typeof route.weight === 'number' && Number.isFinite(route.weight) && route.weight >= 0) pc.weight = route.weight;
        if (price) {
          pc.priceIn = price.inPerM;
          pc.priceOut = price.outPerM;
        }
        if (why === 'capacity' || why === 'tokens' || why === 'paused') pc.saturated = true;
        if (why === 'breaker_open' || why === 'unhealthy') pc.healthy = false;
        return pc;
      });
      const plan = planner.plan(cands, { session: sessionOf(req), estimatedTokens: { promptTokens: prompt, completionTokens: completion } });
      m.plan = plan;
      if (plan.error) throw new PlanRejection('budget_exhausted', plan.error.message);
      return plan.ordered.map((c) => c.resolved);
    },
    beforeAttempt(c, req) {
      const m = req.meta as Meta | undefined;
      if (!m || m[PLANNED] !== true) return;
      planner.onStart(c.key);
      m[PENDING] = c.key;
    },
    onAttempt(rec: AttemptRecord, c, req) {
      const m = req.meta as Meta | undefined;
      if (!m || m[PLANNED] !== true || m[PENDING] !== c.key) return;
      if (rec.outcome === 'ok') return; // in flight until onSuccess (a stream: until it is over)
      m[PENDING] = undefined;
      if (rec.outcome === 'error' && rec.code !== 'aborted') {
        planner.onResult(c.key, { ok: false, latencyMs: rec.latencyMs ?? 0, session: sessionOf(req) });
      } else {
        planner.metrics.end(c.key);
      }
    },
    onSuccess(outcome: ExecSuccess<R>, req) {
      const m = req.meta as Meta | undefined;
      if (!m || m[PLANNED] !== true) return;
      const key = `${outcome.provider}/${outcome.model}`;
      m[PENDING] = undefined;
      const okRec = [...outcome.attempts].reverse().find((a) => a.outcome === 'ok');
      const ok = outcome.stream ? outcome.stream.ok : true;
      const effect = planner.onResult(key, {
        ok,
        latencyMs: okRec?.latencyMs ?? outcome.latencyMs,
        ...(outcome.usage ? { usage: outcome.usage } : {}),
        ...(outcome.usd !== null ? { usd: outcome.usd } : {}),
        session: sessionOf(req),
      });
      m.cost = effect.usd;
      if (effect.alerts.length > 0) m.alerts = effect.alerts;
    },
    onUnavailable(key: string) {
      planner.onUnavailable(key);
    },
  };
}

/** The explanation of the candidate that answered (its position in the plan and why). */
export function explainChoice(plan: PlanResult<PlannedCandidate> | undefined, key: string): (Explanation & { position: number }) | undefined {
  if (!plan) return undefined;
  const i = plan.ordered.findIndex((c) => c.key === key);
  if (i < 0) return undefined;
  const e = plan.explain[i];
  return e ? { ...e, position: i + 1 } : undefined;
}
