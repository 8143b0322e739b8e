/**
 * USD budgets: per calendar day in an IANA timezone, per provider account per day, and per
 * session (a key with a TTL counted from the session's last spend).
 *
 * - `check()` says whether a candidate may take a request of an estimated cost. A budget that is
 *   reached blocks every paid candidate; a request whose estimate exceeds what is left is blocked
 *   on that candidate only, so a cheaper candidate can still take it (the downgrade).
 * - Free models (a known price of 0 in and out) are never blocked by a budget.
 * - Unknown prices estimate as 0 and are allowed until the budget is reached; their real cost
 *   counts once `record()` is given it.
 * - Alerts fire once per crossing (warn at `warnRatio`, exhausted at 100 %) and once when a new
 *   day clears a daily level. They go to `onAlert` and are also returned by `record()`.
 */
import { addDays, assertTimeZone, dayKey, startOfDay } from '../time/zoned';

export type BudgetScope = 'daily' | 'provider' | 'session';
export type BudgetLevel = 'ok' | 'warn' | 'exhausted';

export interface BudgetAlert {
  scope: BudgetScope;
  level: BudgetLevel;
  spentUsd: number;
  limitUsd: number;
  /** the day in the configured timezone (daily and provider scopes) */
  day?: string;
  provider?: string;
  session?: string;
  message: string;
  at: number;
}

export interface BudgetConfig {
  /** USD per calendar day in `timeZone`; unset/null = no daily budget */
  dailyUsd?: number | null;
  /** IANA timezone of the day boundary (default 'UTC') */
  timeZone?: string;
  /** USD per provider account per day, e.g. {'nvidia-1': 2} */
  providerDailyUsd?: Record<string, number>;
  /** USD per session; unset/null = no session budget */
  sessionUsd?: number | null;
  /** a session's spend is forgotten this long after its last spend (default 1 h) */
  sessionTtlMs?: number;
  /** sessions tracked at most; the least recently active is dropped beyond it (default 10 000) */
  maxSessions?: number;
  /** fraction of a budget that raises a 'warn' alert (default 0.8) */
  warnRatio?: number;
  /**
   * A request whose first choice is a free model may fall back to a paid one only when this is
   * set (default false): free traffic never turns into spend by accident.
   */
  allowPaidFallback?: boolean;
  now?: () => number;
  onAlert?: (alert: BudgetAlert) => void;
}

export interface BudgetCandidate {
  key: string;
  provider: string;
  priceIn?: number;
  priceOut?: number;
}

export interface BudgetDecision {
  allowed: boolean;
  /** why not (absent when allowed) */
  reason?: string;
  /** the candidate is free (known price 0/0) */
  free: boolean;
}

interface Spend {
  usd: number;
  level: BudgetLevel;
}

interface SessionSpend extends Spend {
  expiresAt: number;
}

const FREE_OK: BudgetDecision = Object.freeze({ allowed: true, free: true }) as BudgetDecision;
const PAID_OK: BudgetDecision = Object.freeze({ allowed: true, free: false }) as BudgetDecision;

const RANK: Record<BudgetLevel, number> = { ok: 0, warn: 1, exhausted: 2 };

function usd(n: number): string {
  if (n !== 0 && Math.abs(n) < 0.01) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(2)}`;
}

function positiveOrNull(v: unknown, label: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${label} must be a number >= 0 (USD)`);
  return v;
}

export class BudgetTracker {
  readonly timeZone: string;
  readonly allowPaidFallback: boolean;
  private readonly dailyUsd: number | null;
  private readonly sessionUsd: number | null;
  private readonly providerDailyUsd = new Map<string, number>();
  private readonly sessionTtlMs: number;
  private readonly maxSessions: number;
  private readonly warnRatio: number;
  private readonly now: () => number;
  private readonly onAlert?: (alert: BudgetAlert) => void;

  private day = '';
  /** [start, end) epoch ms of `day` in the timezone: no date arithmetic while inside it */
  private dayStart = Number.NaN;
  private dayEnd = Number.NaN;
  private daily: Spend = { usd: 0, level: 'ok' };
  private readonly providers = new Map<string, Spend>();
  private readonly sessions = new Map<string, SessionSpend>();

  constructor(cfg: BudgetConfig = {}) {
    this.timeZone = cfg.timeZone ?? 'UTC';
    assertTimeZone(this.timeZone);
    this.dailyUsd = positiveOrNull(cfg.dailyUsd, 'dailyUsd');
    this.sessionUsd = positiveOrNull(cfg.sessionUsd, 'sessionUsd');
    for (const [p, v] of Object.entries(cfg.providerDailyUsd ?? {})) {
      this.providerDailyUsd.set(p, positiveOrNull(v, `providerDailyUsd["${p}"]`) ?? 0);
    }
    this.sessionTtlMs = cfg.sessionTtlMs ?? 3_600_000;
    if (!(this.sessionTtlMs > 0)) throw new Error('sessionTtlMs must be > 0');
    this.maxSessions = cfg.maxSessions ?? 10_000;
    this.warnRatio = cfg.warnRatio ?? 0.8;
    if (!(this.warnRatio > 0 && this.warnRatio <= 1)) throw new Error('warnRatio must be in (0, 1]');
    this.allowPaidFallback = cfg.allowPaidFallback === true;
    this.now = cfg.now ?? Date.now;
    this.onAlert = cfg.onAlert;
  }

  /** True when any budget is configured. */
  get hasLimits(): boolean {
    return this.dailyUsd !== null || this.sessionUsd !== null || this.providerDailyUsd.size > 0;
  }

  /** May `candidate` take a request estimated at `estimatedCostUsd`? */
  check(candidate: BudgetCandidate, estimatedCostUsd: number, opts: { session?: string } = {}): BudgetDecision {
    if (candidate.priceIn === 0 && candidate.priceOut === 0) return FREE_OK;
    const free = false;
    this.rollAndEmit();
    if (!this.hasLimits) return PAID_OK;
    const est = Number.isFinite(estimatedCostUsd) && estimatedCostUsd > 0 ? estimatedCostUsd : 0;
    const daily = this.blocked('daily budget', this.daily.usd, this.dailyUsd, est, ` on ${this.day} (${this.timeZone})`);
    if (daily) return { allowed: false, reason: daily, free };
    const pLimit = this.providerDailyUsd.get(candidate.provider);
    if (pLimit !== undefined) {
      const spent = this.providers.get(candidate.provider)?.usd ?? 0;
      const r = this.blocked(`daily budget of ${candidate.provider}`, spent, pLimit, est, ` on ${this.day} (${this.timeZone})`);
      if (r) return { allowed: false, reason: r, free };
    }
    if (opts.session !== undefined && this.sessionUsd !== null) {
      const spent = this.liveSession(opts.session)?.usd ?? 0;
      const r = this.blocked('session budget', spent, this.sessionUsd, est, '');
      if (r) return { allowed: false, reason: r, free };
    }
    return PAID_OK;
  }

  /** Add spend. Returns the alerts this spend (or a new day) raised; they also go to onAlert. */
  record(amountUsd: number, opts: { session?: string; provider?: string } = {}): BudgetAlert[] {
    const alerts: BudgetAlert[] = [];
    this.roll(alerts);
    const amount = Number.isFinite(amountUsd) && amountUsd > 0 ? amountUsd : 0;
    const now = this.now();
    if (amount > 0) {
      this.daily.usd += amount;
      this.raise(alerts, this.daily, this.dailyUsd, { scope: 'daily', day: this.day }, now);
      if (opts.provider !== undefined) {
        let p = this.providers.get(opts.provider);
        if (!p) {
          p = { usd: 0, level: 'ok' };
          this.providers.set(opts.provider, p);
        }
        p.usd += amount;
        const limit = this.providerDailyUsd.get(opts.provider);
        if (limit !== undefined) this.raise(alerts, p, limit, { scope: 'provider', day: this.day, provider: opts.provider }, now);
      }
    }
    if (opts.session !== undefined && (amount > 0 || this.sessions.has(opts.session))) {
      let s = this.liveSession(opts.session);
      if (s) this.sessions.delete(opts.session);
      else s = { usd: 0, level: 'ok', expiresAt: 0 };
      s.usd += amount;
      s.expiresAt = now + this.sessionTtlMs;
      this.sessions.set(opts.session, s); // most recently active last
      while (this.sessions.size > this.maxSessions) {
        const oldest = this.sessions.keys().next().value as string;
        this.sessions.delete(oldest);
      }
      this.raise(alerts, s, this.sessionUsd, { scope: 'session', session: opts.session }, now);
    }
    for (const a of alerts) this.emit(a);
    return alerts;
  }

  /** Spend so far (today in the configured timezone, and the session's when given). */
  status(session?: string): {
    day: string;
    timeZone: string;
    dailySpentUsd: number;
    dailyLimitUsd: number | null;
    dailyLevel: BudgetLevel;
    providers: Array<{ provider: string; spentUsd: number; limitUsd: number | null; level: BudgetLevel }>;
    session?: { session: string; spentUsd: number; limitUsd: number | null; level: BudgetLevel };
  } {
    this.rollAndEmit();
    const names = new Set([...this.providerDailyUsd.keys(), ...this.providers.keys()]);
    const out: ReturnType<BudgetTracker['status']> = {
      day: this.day,
      timeZone: this.timeZone,
      dailySpentUsd: this.daily.usd,
      dailyLimitUsd: this.dailyUsd,
      dailyLevel: this.daily.level,
      providers: [...names].map((provider) => {
        const p = this.providers.get(provider);
        return { provider, spentUsd: p?.usd ?? 0, limitUsd: this.providerDailyUsd.get(provider) ?? null, level: p?.level ?? 'ok' };
      }),
    };
    if (session !== undefined) {
      const s = this.liveSession(session);
      out.session = { session, spentUsd: s?.usd ?? 0, limitUsd: this.sessionUsd, level: s?.level ?? 'ok' };
    }
    return out;
  }

  /** Forget all spend (e.g. a manual reset from reset-schedule). */
  reset(): void {
    this.daily = { usd: 0, level: 'ok' };
    this.providers.clear();
    this.sessions.clear();
  }

  private blocked(label: string, spent: number, limit: number | null, est: number, where: string): string | null {
    if (limit === null) return null;
    if (spent >= limit) return `${label} ${usd(limit)} reached (${usd(spent)} spent${where})`;
    if (spent + est > limit) return `estimated ${usd(est)} exceeds the ${usd(limit - spent)} left of the ${label} ${usd(limit)}`;
    return null;
  }

  private liveSession(session: string): SessionSpend | undefined {
    const s = this.sessions.get(session);
    if (s && s.expiresAt <= this.now()) {
      this.sessions.delete(session);
      return undefined;
    }
    return s;
  }

  private rollAndEmit(): void {
    const now = this.now();
    if (now >= this.dayStart && now < this.dayEnd) return;
    const alerts: BudgetAlert[] = [];
    this.roll(alerts);
    for (const a of alerts) this.emit(a);
  }

  /** Starts a new day when the timezone's calendar day changed; daily levels clear with one 'ok' alert. */
  private roll(alerts: BudgetAlert[]): void {
    const now = this.now();
    if (now >= this.dayStart && now < this.dayEnd) return;
    if (now < this.dayStart) return; // the clock stepped back over midnight: stay on the current day
    const today = dayKey(now, this.timeZone);
    this.dayStart = startOfDay(today, this.timeZone);
    this.dayEnd = startOfDay(addDays(today, 1), this.timeZone);
    if (today === this.day) return; // clock went backwards within the day
    const previous = this.day;
    this.day = today;
    if (previous === '') return;
    if (this.daily.level !== 'ok' && this.dailyUsd !== null) {
      alerts.push(this.alert('daily', 'ok', 0, this.dailyUsd, now, { day: today },
        `new day ${today} (${this.timeZone}): daily budget ${usd(this.dailyUsd)} available again`));
    }
    for (const [provider, p] of this.providers) {
      const limit = this.providerDailyUsd.get(provider);
      if (p.level !== 'ok' && limit !== undefined) {
        alerts.push(this.alert('provider', 'ok', 0, limit, now, { day: today, provider },
          `new day ${today} (${this.timeZone}): daily budget of ${provider} ${usd(limit)} available again`));
      }
    }
    this.daily = { usd: 0, level: 'ok' };
    this.providers.clear();
  }

  private raise(alerts: BudgetAlert[], spend: Spend, limit: number | null | undefined,
    where: { scope: BudgetScope; day?: string; provider?: string; session?: string }, now: number): void {
    if (limit === null || limit === undefined) return;
    const level: BudgetLevel = spend.usd >= limit ? 'exhausted' : spend.usd >= limit * this.warnRatio ? 'warn' : 'ok';
    if (RANK[level] <= RANK[spend.level]) return;
    spend.level = level;
    const name = where.scope === 'daily' ? 'daily budget'
      : where.scope === 'provider' ? `daily budget of ${where.provider}` : `budget of session ${where.session}`;
    const pct = limit > 0 ? Math.round((spend.usd / limit) * 100) : 100;
    const message = level === 'exhausted'
      ? `${name} ${usd(limit)} reached: ${usd(spend.usd)} spent; paid candidates are skipped`
      : `${name} at ${pct}%: ${usd(spend.usd)} of ${usd(limit)} spent`;
    alerts.push(this.alert(where.scope, level, spend.usd, limit, now, where, message));
  }

  private alert(scope: BudgetScope, level: BudgetLevel, spentUsd: number, limitUsd: number, at: number,
    where: { day?: string; provider?: string; session?: string }, message: string): BudgetAlert {
    const a: BudgetAlert = { scope, level, spentUsd, limitUsd, message, at };
    if (where.day !== undefined) a.day = where.day;
    if (where.provider !== undefined) a.provider = where.provider;
    if (where.session !== undefined) a.session = where.session;
    return a;
  }

  private emit(a: BudgetAlert): void {
    if (!this.onAlert) return;
    try {
      this.onAlert(a);
    } catch {
      // a failing listener must not break request planning
    }
  }
}
