/**
 * Allowance configuration: what each model may use, in which unit, over which window.
 * parseAllowances() turns editor/JSON input into checked allowances or throws a
 * clear error naming the row at fault.
 */
import { isValidTimeZone } from '../time/zoned';

export type QuotaUnit = 'tokens' | 'quota' | 'requests' | 'usd';
export const QUOTA_UNITS: QuotaUnit[] = ['tokens', 'quota', 'requests', 'usd'];

export type QuotaWindow = { type: 'day'; tz?: string } | { type: 'month'; tz?: string } | { type: 'total'; since: string };

export interface Allowance {
  model: string;
  limit: number;
  unit: QuotaUnit;
  window: QuotaWindow;
  /** the channel's normal priority (restored on recovery when enabled) */
  baselinePriority?: number;
  /** percent of the limit at which the state becomes "warn" (default 80) */
  warnPercent: number;
}

export const DEFAULT_WARN_PERCENT = 80;

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v.replace(/[_,\s]/g, ''));
  return NaN;
}

/** "1.9M", "500k", "2400000" -> a number (used for limits typed by hand). */
export function parseAmount(v: unknown): number {
  if (typeof v === 'string') {
    const m = /^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMgGbB]?)\s*$/.exec(v);
    if (m) {
      const base = Number(m[1].replace(/[_,]/g, ''));
      const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9, b: 1e9 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 'b'];
      return Math.round(base * mult * 1e6) / 1e6;
    }
  }
  return num(v);
}

function parseWindow(raw: Record<string, unknown>, where: string): QuotaWindow {
  const w = raw.window;
  let type: unknown;
  let tz: unknown;
  let since: unknown;
  if (w && typeof w === 'object') {
    const o = w as Record<string, unknown>;
    type = o.type;
    tz = o.tz ?? o.timezone;
    since = o.since;
  } else {
    type = w;
    tz = raw.tz ?? raw.timezone;
    since = raw.since;
  }
  if (type === undefined || type === '') type = 'day';
  if (type === 'day' || type === 'month') {
    if (tz !== undefined && tz !== null && tz !== '') {
      if (!isValidTimeZone(tz)) throw new Error(`${where}: unknown timezone ${JSON.stringify(tz)}`);
      return { type, tz };
    }
    return { type };
  }
  if (type === 'total') {
    if (typeof since !== 'string' || !DAY_RE.test(since)) {
      throw new Error(`${where}: a "total" window needs "since" as YYYY-MM-DD, got ${JSON.stringify(since)}`);
    }
    return { type: 'total', since };
  }
  throw new Error(`${where}: window must be day, month or total, got ${JSON.stringify(type)}`);
}

/** Checks one allowance; throws with the row number and the field at fault. */
export function parseAllowance(raw: unknown, index = 0): Allowance {
  const where = `allowance ${index + 1}`;
  if (!raw || typeof raw !== 'object') throw new Error(`${where}: not an object`);
  const r = raw as Record<string, unknown>;
  const model = typeof r.model === 'string' ? r.model.trim() : '';
  if (!model) throw new Error(`${where}: model is missing`);
  const at = `${where} (${model})`;
  const limit = parseAmount(r.limit);
  if (!Number.isFinite(limit) || limit <= 0) throw new Error(`${at}: limit must be a number above 0, got ${JSON.stringify(r.limit)}`);
  const unit = (r.unit === undefined || r.unit === '' ? 'tokens' : r.unit) as QuotaUnit;
  if (!QUOTA_UNITS.includes(unit)) throw new Error(`${at}: unit must be one of ${QUOTA_UNITS.join(', ')}, got ${JSON.stringify(r.unit)}`);
  const window = parseWindow(r, at);
  let baselinePriority: number | undefined;
  if (r.baselinePriority !== undefined && r.baselinePriority !== null && r.baselinePriority !== '') {
    baselinePriority = num(r.baselinePriority);
    if (!Number.isInteger(baselinePriority)) throw new Error(`${at}: baseline priority must be a whole number, got ${JSON.stringify(r.baselinePriority)}`);
  }
  let warnPercent = DEFAULT_WARN_PERCENT;
  if (r.warnPercent !== undefined && r.warnPercent !== null && r.warnPercent !== '') {
    warnPercent = num(r.warnPercent);
    if (!Number.isFinite(warnPercent) || warnPercent <= 0 || warnPercent > 100) {
      throw new Error(`${at}: warn percent must be above 0 and at most 100, got ${JSON.stringify(r.warnPercent)}`);
    }
  }
  return { model, limit, unit, window, ...(baselinePriority !== undefined ? { baselinePriority } : {}), warnPercent };
}

/** Parses a list of allowances (an array, or its JSON text). Throws when empty, invalid or duplicated. */
export function parseAllowances(raw: unknown): Allowance[] {
  let list = raw;
  if (typeof list === 'string') {
    if (list.trim() === '') list = [];
    else {
      try {
        list = JSON.parse(list);
      } catch {
        throw new Error('allowances are not valid JSON');
      }
    }
  }
  if (!Array.isArray(list)) throw new Error('allowances must be a list');
  if (list.length === 0) throw new Error('no allowances configured: add at least one model with a limit');
  const out = list.map((r, i) => parseAllowance(r, i));
  const seen = new Set<string>();
  for (const a of out) {
    const k = a.model.toLowerCase();
    if (seen.has(k)) throw new Error(`model "${a.model}" has more than one allowance`);
    seen.add(k);
  }
  return out;
}

/** Explicit model -> channels map: {model: [id|name, ...]} or [{model, channels}] or JSON text. */
export type ChannelMap = Map<string, Array<string | number>>;

export function parseChannelMap(raw: unknown): ChannelMap | null {
  let v = raw;
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new Error('channel map is not valid JSON');
    }
  }
  const map: ChannelMap = new Map();
  const add = (model: unknown, channels: unknown, where: string): void => {
    if (typeof model !== 'string' || model.trim() === '') throw new Error(`${where}: model is missing`);
    const list = Array.isArray(channels)
      ? channels
      : typeof channels === 'string'
        ? channels.split(',').map((s) => s.trim())
        : typeof channels === 'number'
          ? [channels]
          : null;
    if (!list) throw new Error(`${where} (${model}): channels must be a list of ids or names`);
    const clean = list
      .filter((c) => (typeof c === 'string' && c !== '') || typeof c === 'number')
      .map((c) => (typeof c === 'string' && /^\d+$/.test(c) ? Number(c) : c)) as Array<string | number>;
    const key = model.trim().toLowerCase();
    map.set(key, [...(map.get(key) ?? []), ...clean]);
  };
  if (Array.isArray(v)) v.forEach((e, i) => add((e as { model?: unknown })?.model, (e as { channels?: unknown })?.channels, `channel map row ${i + 1}`));
  else if (v && typeof v === 'object') for (const [model, chans] of Object.entries(v)) add(model, chans, 'channel map');
  else throw new Error('channel map must be an object or a list');
  return map.size ? map : null;
}
