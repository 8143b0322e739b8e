/**
 * Usage windows: "today" or "the last N days" (today included), as calendar days of
 * an IANA timezone. A window knows its day keys and its epoch bounds, so every source
 * can be asked for exactly that range and every row can be filtered by its day.
 */
import { addDays, assertTimeZone, dayKey, startOfDay } from '../time/zoned';

export type WindowSpec = { type: 'today' } | { type: 'days'; days: number };

export interface UsageWindow {
  type: 'today' | 'days';
  /** number of calendar days covered (1 for today) */
  days: number;
  timezone: string;
  /** first day, 'YYYY-MM-DD' in `timezone` */
  firstDay: string;
  /** last day (today), 'YYYY-MM-DD' in `timezone` */
  lastDay: string;
  /** epoch ms of local midnight starting `firstDay` */
  from: number;
  /** epoch ms of local midnight after `lastDay` (exclusive) */
  to: number;
  /** the day keys, oldest first */
  dayKeys: string[];
}

export const MAX_WINDOW_DAYS = 400;

/** Parses a window setting ('today' | N | {type, days}); throws a clear error when invalid. */
export function parseWindowSpec(value: unknown, days?: unknown): WindowSpec {
  if (value && typeof value === 'object') {
    const v = value as { type?: unknown; days?: unknown };
    return parseWindowSpec(v.type, v.days);
  }
  if (value === 'today' || value === undefined || value === '') return { type: 'today' };
  if (value === 'days' || value === 'last') {
    const n = typeof days === 'string' && days.trim() !== '' ? Number(days) : days;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WINDOW_DAYS) {
      throw new Error(`window days must be a whole number from 1 to ${MAX_WINDOW_DAYS}, got ${JSON.stringify(days)}`);
    }
    return n === 1 ? { type: 'days', days: 1 } : { type: 'days', days: n };
  }
  throw new Error(`window must be "today" or "days", got ${JSON.stringify(value)}`);
}

export function usageWindow(spec: WindowSpec, timezone: string, now: number = Date.now()): UsageWindow {
  assertTimeZone(timezone);
  const days = spec.type === 'today' ? 1 : spec.days;
  const lastDay = dayKey(now, timezone);
  const firstDay = addDays(lastDay, -(days - 1));
  const dayKeys: string[] = [];
  for (let i = 0; i < days; i++) dayKeys.push(addDays(firstDay, i));
  return {
    type: spec.type,
    days,
    timezone,
    firstDay,
    lastDay,
    from: startOfDay(firstDay, timezone),
    to: startOfDay(addDays(lastDay, 1), timezone),
    dayKeys,
  };
}

/** A JSON-friendly description of the window for msg.window. */
export function describeWindow(w: UsageWindow): {
  type: 'today' | 'days';
  days: number;
  timezone: string;
  firstDay: string;
  lastDay: string;
  from: string;
  to: string;
} {
  return {
    type: w.type,
    days: w.days,
    timezone: w.timezone,
    firstDay: w.firstDay,
    lastDay: w.lastDay,
    from: new Date(w.from).toISOString(),
    to: new Date(w.to).toISOString(),
  };
}

/** The machine's IANA timezone (falls back to UTC). */
export function machineTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}
