/**
 * Calendar days and months in an IANA timezone, without a date library.
 * Offsets are cached per (timezone, 15-minute slot), so aggregating many rows is cheap.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws a clear error for an unknown IANA timezone name. */
export function assertTimeZone(tz: string): void {
  if (typeof tz !== 'string' || tz.trim() === '') throw new Error('timezone is empty');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new Error(`unknown timezone "${tz}" (use an IANA name such as Asia/Shanghai or UTC)`);
  }
}

export function isValidTimeZone(tz: unknown): tz is string {
  if (typeof tz !== 'string' || tz.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

export interface ZonedParts {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export function zonedParts(epochMs: number, tz: string): ZonedParts {
  const parts = formatter(tz).formatToParts(new Date(epochMs));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

const offsetCache = new Map<string, number>();
const SLOT_MS = 15 * 60 * 1000;

/** The timezone's offset from UTC in ms at `epochMs` (positive east of Greenwich). */
export function tzOffsetMs(epochMs: number, tz: string): number {
  const slot = Math.floor(epochMs / SLOT_MS);
  const key = `${tz}|${slot}`;
  const hit = offsetCache.get(key);
  if (hit !== undefined) return hit;
  const p = zonedParts(slot * SLOT_MS, tz);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const offset = asUtc - slot * SLOT_MS;
  if (offsetCache.size > 50_000) offsetCache.clear();
  offsetCache.set(key, offset);
  return offset;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** 'YYYY-MM-DD' of the calendar day containing `epochMs` in `tz`. */
export function dayKey(epochMs: number, tz: string): string {
  const local = new Date(epochMs + tzOffsetMs(epochMs, tz));
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}`;
}

/** 'YYYY-MM' of the month containing `epochMs` in `tz`. */
export function monthKey(epochMs: number, tz: string): string {
  return dayKey(epochMs, tz).slice(0, 7);
}

/** Epoch ms of local midnight starting the day 'YYYY-MM-DD' in `tz` (DST-safe). */
export function startOfDay(day: string, tz: string): number {
  const [y, m, d] = day.split('-').map(Number);
  const guess = Date.UTC(y, m - 1, d);
  // Two passes settle the offset even when midnight itself is near a transition.
  let t = guess - tzOffsetMs(guess, tz);
  t = guess - tzOffsetMs(t, tz);
  return t;
}

/** The day key `n` calendar days after `day` (negative n goes back). */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}
