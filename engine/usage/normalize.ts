/**
 * Turns every usage source into the same rows: {day, model, requests, promptTokens,
 * completionTokens, totalTokens, quota, usd}, one per (day, model), sorted by day then
 * model. Malformed input rows are skipped and counted, never thrown on.
 *
 * Sources:
 * - one-api GET /api/user/dashboard (Go field names: Day, ModelName, RequestCount, ...);
 * - one-api / new-api consume logs (one row per request, created_at in Unix seconds);
 * - one-api GET /api/log/stat per model and day (quota only);
 * - new-api GET /api/data/ hourly buckets, grouped into days of a timezone;
 * - the router's own ledger rows (already in this shape).
 */
import type { UsageRow } from '../ledger/usage-ledger';
import { dayKey, isValidTimeZone } from '../time/zoned';

export type { UsageRow };

export const DEFAULT_QUOTA_PER_UNIT = 500_000;

export interface NormalizeResult {
  rows: UsageRow[];
  /** input rows skipped because they were malformed */
  skipped: number;
  /** up to five short reasons, for a status or a warning */
  reasons: string[];
}

export interface NormalizeOptions {
  /** quota units per USD (GET /api/status data.quota_per_unit); default 500000 */
  quotaPerUnit?: number;
  /** keep only rows whose day is one of these */
  days?: Iterable<string>;
}

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})/;
const NUMERIC_STRING = /^\s*\d+(\.\d+)?\s*$/;

/** A count field: missing -> 0; a finite number >= 0 (or a numeric string) -> it; anything else -> NaN. */
function count(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : NaN;
  if (typeof v === 'string' && NUMERIC_STRING.test(v)) return Number(v);
  return NaN;
}

function validDay(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const m = DAY_RE.exec(v.trim());
  if (!m) return null;
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > 31) return null;
  return `${m[1]}-${m[2]}-${m[3]}`;
}

function validModel(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  return t === '' ? null : t;
}

function qpu(opts: NormalizeOptions): number {
  const q = opts.quotaPerUnit;
  return typeof q === 'number' && Number.isFinite(q) && q > 0 ? q : DEFAULT_QUOTA_PER_UNIT;
}

/** Accumulates rows by (day, model) and counts what it had to skip. */
export class UsageAccumulator {
  private readonly byKey = new Map<string, UsageRow>();
  private readonly daySet: Set<string> | null;
  skipped = 0;
  readonly reasons: string[] = [];

  constructor(private readonly opts: NormalizeOptions = {}) {
    this.daySet = opts.days ? new Set(opts.days) : null;
  }

  skip(reason: string): void {
    this.skipped++;
    if (this.reasons.length < 5 && !this.reasons.includes(reason)) this.reasons.push(reason);
  }

  /** Adds one (already validated) contribution; returns false when the day is outside the window. */
  add(day: string, model: string, requests: number, prompt: number, completion: number, total: number, quota: number, usd: number): boolean {
    if (this.daySet && !this.daySet.has(day)) return false;
    const key = `${day}\u0000${model}`;
    let row = this.byKey.get(key);
    if (!row) {
      row = { day, model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, quota: 0, usd: 0 };
      this.byKey.set(key, row);
    }
    row.requests += requests;
    row.promptTokens += prompt;
    row.completionTokens += completion;
    row.totalTokens += total;
    row.quota += quota;
    row.usd += usd;
    return true;
  }

  result(): NormalizeResult {
    const perUnit = qpu(this.opts);
    const rows = [...this.byKey.values()];
    for (const r of rows) {
      // USD is derived from quota where the source only knows quota.
      if (r.usd === 0 && r.quota > 0) r.usd = r.quota / perUnit;
      r.usd = Math.round(r.usd * 1e6) / 1e6;
    }
    rows.sort((a, b) => (a.day === b.day ? (a.model < b.model ? -1 : a.model > b.model ? 1 : 0) : a.day < b.day ? -1 : 1));
    return { rows, skipped: this.skipped, reasons: [...this.reasons] };
  }
}

/** The object rows of `input`; anything else (not a list, a row that is not an object) is counted as skipped. */
function* records<T = Record<string, unknown>>(input: unknown, acc: UsageAccumulator, what: string): Generator<T> {
  if (!Array.isArray(input)) {
    if (input !== undefined && input !== null) acc.skip(`${what} is not a list`);
    return;
  }
  for (const raw of input) {
    if (raw && typeof raw === 'object') yield raw as T;
    else acc.skip('row is not an object');
  }
}

/** one-api GET /api/user/dashboard rows: {Day, ModelName, RequestCount, Quota, PromptTokens, CompletionTokens}. */
export function fromOneApiDashboard(input: unknown, opts: NormalizeOptions = {}): NormalizeResult {
  const acc = new UsageAccumulator(opts);
  for (const r of records(input, acc, 'dashboard data')) {
    const day = validDay(r.Day);
    const model = validModel(r.ModelName);
    if (!day || !model) {
      acc.skip(!day ? 'missing or invalid Day' : 'missing ModelName');
      continue;
    }
    const requests = count(r.RequestCount);
    const quota = count(r.Quota);
    const prompt = count(r.PromptTokens);
    const completion = count(r.CompletionTokens);
    if ([requests, quota, prompt, completion].some(Number.isNaN)) {
      acc.skip('non-numeric count');
      continue;
    }
    acc.add(day, model, requests, prompt, completion, prompt + completion, quota, 0);
  }
  return acc.result();
}

export interface ConsumeLog {
  model?: unknown;
  /** Unix seconds (or ms; values above 1e11 are read as ms) */
  createdAt?: unknown;
  promptTokens?: unknown;
  completionTokens?: unknown;
  quota?: unknown;
  channelId?: unknown;
  /** set by the admin client when the entry cannot be read as a consume log (the reason) */
  malformed?: unknown;
}

function epochMs(v: unknown): number {
  const n = typeof v === 'string' && NUMERIC_STRING.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return NaN;
  return n > 1e11 ? n : n * 1000;
}

/** Consume log entries (one per request), grouped by day of `timezone` and model. */
export function fromConsumeLogs(input: unknown, timezone: string, opts: NormalizeOptions = {}): NormalizeResult {
  const acc = new UsageAccumulator(opts);
  if (!isValidTimeZone(timezone)) throw new Error(`unknown timezone "${timezone}"`);
  for (const r of records<ConsumeLog>(input, acc, 'log data')) {
    if (typeof r.malformed === 'string' && r.malformed) {
      acc.skip(r.malformed);
      continue;
    }
    const model = validModel(r.model);
    const t = epochMs(r.createdAt);
    if (!model || Number.isNaN(t)) {
      acc.skip(!model ? 'missing model' : 'missing or invalid created_at');
      continue;
    }
    const prompt = count(r.promptTokens);
    const completion = count(r.completionTokens);
    const quota = count(r.quota);
    if ([prompt, completion, quota].some(Number.isNaN)) {
      acc.skip('non-numeric count');
      continue;
    }
    acc.add(dayKey(t, timezone), model, 1, prompt, completion, prompt + completion, quota, 0);
  }
  return acc.result();
}

/** Per-model per-day quota sums from GET /api/log/stat: [{day, model, quota}]. Tokens are unknown there. */
export function fromLogStats(input: unknown, opts: NormalizeOptions = {}): NormalizeResult {
  const acc = new UsageAccumulator(opts);
  for (const r of records(input, acc, 'log stats')) {
    const day = validDay(r.day);
    const model = validModel(r.model);
    const quota = count(r.quota);
    if (!day || !model || Number.isNaN(quota)) {
      acc.skip(!day ? 'missing or invalid day' : !model ? 'missing model' : 'non-numeric quota');
      continue;
    }
    acc.add(day, model, 0, 0, 0, 0, quota, 0);
  }
  return acc.result();
}

/**
 * new-api GET /api/data/ hourly rows {model_name, created_at (Unix s, on the hour), token_used,
 * count, quota}, grouped into calendar days of `timezone`. token_used is prompt + completion
 * combined, so the split stays 0.
 */
export function fromQuotaData(input: unknown, timezone: string, opts: NormalizeOptions = {}): NormalizeResult {
  const acc = new UsageAccumulator(opts);
  if (!isValidTimeZone(timezone)) throw new Error(`unknown timezone "${timezone}"`);
  // created_at is on the hour: a month of data has ~720 distinct values, so day keys are cached.
  const dayCache = new Map<number, string>();
  for (const r of records(input, acc, 'quota data')) {
    const model = validModel(r.model_name);
    const created = r.created_at;
    if (!model || typeof created !== 'number' || !Number.isFinite(created) || created <= 0) {
      acc.skip(!model ? 'missing model_name' : 'missing or invalid created_at');
      continue;
    }
    const tokens = count(r.token_used);
    const requests = count(r.count);
    const quota = count(r.quota);
    if (Number.isNaN(tokens) || Number.isNaN(requests) || Number.isNaN(quota)) {
      acc.skip('non-numeric count');
      continue;
    }
    let day = dayCache.get(created);
    if (day === undefined) {
      day = dayKey(created > 1e11 ? created : created * 1000, timezone);
      dayCache.set(created, day);
    }
    acc.add(day, model, requests, 0, 0, tokens, quota, 0);
  }
  return acc.result();
}

/** Rows already in UsageRow shape (the local ledger, or rows passed in by a user): validated and re-grouped. */
export function fromUsageRows(input: unknown, opts: NormalizeOptions = {}): NormalizeResult {
  const acc = new UsageAccumulator(opts);
  for (const r of records(input, acc, 'usage rows')) {
    const day = validDay(r.day);
    const model = validModel(r.model);
    if (!day || !model) {
      acc.skip(!day ? 'missing or invalid day' : 'missing model');
      continue;
    }
    const requests = count(r.requests);
    const prompt = count(r.promptTokens);
    const completion = count(r.completionTokens);
    const totalRaw = count(r.totalTokens);
    const quota = count(r.quota);
    const usd = count(r.usd);
    if ([requests, prompt, completion, totalRaw, quota, usd].some(Number.isNaN)) {
      acc.skip('non-numeric count');
      continue;
    }
    const total = r.totalTokens === undefined || r.totalTokens === null ? prompt + completion : totalRaw;
    acc.add(day, model, requests, prompt, completion, total, quota, usd);
  }
  return acc.result();
}
