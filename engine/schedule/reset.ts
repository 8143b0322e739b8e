/**
 * The daily reset: baseline priorities as priority-set input, plus the optional local
 * side effects (clearing today's window of the router's usage ledger, closing circuit
 * breakers).
 */
import type { UsageLedger } from '../ledger/usage-ledger';
import { addDays, dayKey, startOfDay } from '../time/zoned';

export interface Baseline {
  /** channel id, channel name, or a model name (priority-set resolves names, then models) */
  target: string | number;
  priority: number;
}

/** SPEC §1.1: the six channels' everyday priorities. */
export const DEFAULT_BASELINES: Baseline[] = [
  { target: 'deepseek-v3-2-251201', priority: 7 },
  { target: 'deepseek-v3-1-terminus', priority: 6 },
  { target: 'glm-4-7-251222', priority: 5 },
  { target: 'doubao-seed-code-preview-251028', priority: 4 },
  { target: 'kimi-k2-thinking-251104', priority: 3 },
  { target: 'doubao-seed-1-6-251015', priority: 1 },
];

/** Parses [{target, priority}] (or {target: priority}, or JSON text). Throws a clear error; an empty table is allowed. */
export function parseBaselines(raw: unknown): Baseline[] {
  let v = raw;
  if (v === undefined || v === null || v === '') return [];
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new Error('baseline table is not valid JSON');
    }
  }
  const entries: Array<[unknown, unknown]> = Array.isArray(v)
    ? v.map((e) => [(e as { target?: unknown; id?: unknown; name?: unknown })?.target ?? (e as { id?: unknown })?.id ?? (e as { name?: unknown })?.name, (e as { priority?: unknown })?.priority])
    : v && typeof v === 'object'
      ? Object.entries(v)
      : (() => {
          throw new Error('baseline table must be a list of {target, priority}');
        })();
  const seen = new Set<string>();
  return entries.map(([target, priority], i) => {
    const where = `baseline ${i + 1}`;
    let t: string | number;
    if (typeof target === 'number' && Number.isInteger(target)) t = target;
    else if (typeof target === 'string' && target.trim() !== '') t = /^\d+$/.test(target.trim()) ? Number(target.trim()) : target.trim();
    else throw new Error(`${where}: give a channel id, channel name or model`);
    const p = typeof priority === 'string' && /^\s*-?\d+\s*$/.test(priority) ? Number(priority) : priority;
    if (typeof p !== 'number' || !Number.isInteger(p)) throw new Error(`${where} (${t}): priority must be a whole number, got ${JSON.stringify(priority)}`);
    const key = String(t).toLowerCase();
    if (seen.has(key)) throw new Error(`${where}: "${t}" is listed twice`);
    seen.add(key);
    return { target: t, priority: p };
  });
}

/** The priority-set payload for a baseline table: [{id, priority}] or [{name, priority}]. */
export function baselinePayload(baselines: Baseline[]): Array<{ id?: number; name?: string; priority: number }> {
  return baselines.map((b) => (typeof b.target === 'number' ? { id: b.target, priority: b.priority } : { name: b.target, priority: b.priority }));
}

/** Clears today's window (local midnight to the next) of the ledger in `timezone`. */
export async function clearLedgerDay(ledger: UsageLedger, timezone: string, now: number): Promise<{ day: string; from: number; to: number }> {
  const day = dayKey(now, timezone);
  const from = startOfDay(day, timezone);
  const to = startOfDay(addDays(day, 1), timezone);
  await ledger.clear(from, to);
  return { day, from, to };
}

type Registry = { resetBreakers?: () => number };

/**
 * Closes every circuit breaker of the provider registry, when that module is present.
 * Returns how many were closed, or null when there is no registry.
 */
export function closeAllBreakers(load: () => unknown = defaultRegistryLoader): number | null {
  let mod: unknown;
  try {
    mod = load();
  } catch {
    return null;
  }
  const reg = (mod as { providerRegistry?: Registry })?.providerRegistry;
  if (!reg || typeof reg.resetBreakers !== 'function') return null;
  const n = reg.resetBreakers();
  return typeof n === 'number' ? n : 0;
}

function defaultRegistryLoader(): unknown {
  // Loaded lazily: the routing part of the package may be absent or not built yet.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../providers/registry');
}
