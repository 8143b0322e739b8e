/**
 * Recognises and normalises what arrives at the dashboard nodes: usage rows + channels
 * (usage-fetch), quota reports and alerts (quota-check), provider snapshots. Tolerant of
 * missing fields and wrong types; never throws on a single bad element (it is skipped).
 */
import type { BreakerState, ProviderSnapshot } from '../routing/types';
import type { DashboardChannel, DashboardUsageRow, QuotaAlert, QuotaReport, QuotaState } from './types';

export const MAX_TEXT = 200;
export const MAX_MESSAGE = 500;
/** At most this many elements of one payload array are looked at. */
export const MAX_ITEMS = 50_000;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F]/g;

/** A display string: control characters removed, trimmed, length-limited. Not HTML-escaped. */
export function cleanText(v: unknown, max = MAX_TEXT): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  s = s.replace(CONTROL_CHARS, '').trim();
  if (s.length > max) s = s.slice(0, max - 1) + '…';
  return s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A finite number from a number or numeric string, else `fallback`. */
export function num(v: unknown, fallback: number): number;
export function num(v: unknown, fallback: null): number | null;
export function num(v: unknown, fallback: number | null): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : fallback;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : fallback;
  }
  return fallback;
}

const STATES: ReadonlyArray<QuotaState> = ['ok', 'warn', 'exhausted'];

export function quotaState(v: unknown): QuotaState | 'unknown' {
  const s = typeof v === 'string' ? v.toLowerCase() : '';
  return (STATES as readonly string[]).includes(s) ? (s as QuotaState) : 'unknown';
}

/** Rounds to one decimal place. */
export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function hasModel(o: Record<string, unknown>): boolean {
  return cleanText(o.model) !== '';
}

export function looksLikeRow(o: unknown): o is Record<string, unknown> {
  return isObject(o) && typeof o.day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(o.day) && hasModel(o);
}

/** quota-check alerts carry a state change: `kind` (warn | exhausted | recovered) or `from` and `to`. */
function isStateChange(o: Record<string, unknown>): boolean {
  return (typeof o.kind === 'string' && ['warn', 'exhausted', 'recovered', 'ok'].includes(o.kind)) || ('from' in o && 'to' in o);
}

export function looksLikeReport(o: unknown): o is Record<string, unknown> {
  return isObject(o) && hasModel(o) && ('used' in o || 'limit' in o) && !('day' in o) && !isStateChange(o);
}

export function looksLikeSnapshot(o: unknown): o is Record<string, unknown> {
  return isObject(o) && 'rpmUsed' in o && Array.isArray(o.breakers) && (typeof o.id === 'string' || typeof o.name === 'string');
}

export function looksLikeAlert(o: unknown): o is Record<string, unknown> {
  return isObject(o) && hasModel(o) && (isStateChange(o) || 'state' in o || 'message' in o || 'text' in o) && !looksLikeReport(o) && !looksLikeRow(o);
}

export function normalizeReport(o: Record<string, unknown>): QuotaReport {
  const used = Math.max(0, num(o.used, 0));
  const limitRaw = num(o.limit, null);
  const limit = limitRaw !== null && limitRaw >= 0 ? limitRaw : null;
  let percent = num(o.percent, null);
  if (percent === null) percent = limit && limit > 0 ? (used / limit) * 100 : 0;
  percent = Math.max(0, percent);
  const channels = Array.isArray(o.channels)
    ? o.channels.filter((c): c is string | number => (typeof c === 'string' && c !== '') || (typeof c === 'number' && Number.isFinite(c))).slice(0, 100)
    : [];
  return {
    model: cleanText(o.model),
    used,
    limit,
    unit: cleanText(o.unit, 20) || 'tokens',
    percent,
    state: quotaState(o.state),
    channels: channels.map((c) => (typeof c === 'string' ? cleanText(c) : c)),
    priority: num(o.priority, null),
  };
}

export function normalizeAlert(o: Record<string, unknown>, now: number): QuotaAlert {
  const to = cleanText(o.to, 40) || null;
  const time = num(o.time, null) ?? (typeof o.time === 'string' && !Number.isNaN(Date.parse(o.time)) ? Date.parse(o.time) : null);
  return {
    model: cleanText(o.model),
    from: cleanText(o.from, 40) || null,
    to,
    state: cleanText(o.state, 40) || to || '',
    percent: num(o.percent, null),
    message: cleanText(o.message ?? o.text, MAX_MESSAGE),
    time: time ?? now,
  };
}

export function normalizeRow(o: Record<string, unknown>): DashboardUsageRow {
  const n = (v: unknown): number => Math.max(0, num(v, 0));
  const promptTokens = n(o.promptTokens);
  const completionTokens = n(o.completionTokens);
  const total = num(o.totalTokens, null);
  return {
    day: String(o.day),
    model: cleanText(o.model),
    requests: n(o.requests),
    promptTokens,
    completionTokens,
    totalTokens: total !== null && total >= 0 ? total : promptTokens + completionTokens,
    quota: n(o.quota),
    usd: n(o.usd),
  };
}

export function normalizeChannel(o: unknown): DashboardChannel | null {
  if (!isObject(o)) return null;
  const id = typeof o.id === 'number' && Number.isFinite(o.id) ? o.id : cleanText(o.id);
  if (id === '') return null;
  let models: string[] = [];
  if (Array.isArray(o.models)) models = o.models.map((m) => cleanText(m)).filter((m) => m !== '');
  else if (typeof o.models === 'string') models = o.models.split(',').map((m) => cleanText(m)).filter((m) => m !== '');
  return {
    id,
    name: cleanText(o.name) || String(id),
    models: models.slice(0, 200),
    priority: num(o.priority, null),
    weight: num(o.weight, null),
    status: num(o.status, null),
  };
}

const BREAKER_STATES: ReadonlyArray<BreakerState> = ['closed', 'open', 'halfOpen'];

export function normalizeSnapshot(o: Record<string, unknown>): ProviderSnapshot {
  const breakers = Array.isArray(o.breakers) ? o.breakers : [];
  const shared = o.shared === 'connected' || o.shared === 'local-fallback' ? o.shared : null;
  return {
    id: cleanText(o.id) || cleanText(o.name),
    name: cleanText(o.name) || cleanText(o.id),
    rpmUsed: Math.max(0, num(o.rpmUsed, 0)),
    rpmLimit: num(o.rpmLimit, null),
    inFlight: Math.max(0, num(o.inFlight, 0)),
    maxConcurrent: num(o.maxConcurrent, null),
    queued: Math.max(0, num(o.queued, 0)),
    breakers: breakers.filter(isObject).map((b) => ({
      model: cleanText(b.model),
      state: (BREAKER_STATES as readonly unknown[]).includes(b.state) ? (b.state as BreakerState) : 'closed',
      failures: Math.max(0, num(b.failures, 0)),
    })),
    healthy: typeof o.healthy === 'boolean' ? o.healthy : null,
    shared,
    successRate: num(o.successRate, null),
    p50LatencyMs: num(o.p50LatencyMs, null),
  };
}

export interface ClassifiedInput {
  rows?: DashboardUsageRow[];
  channels?: DashboardChannel[];
  reports?: QuotaReport[];
  alerts?: QuotaAlert[];
  snapshots?: ProviderSnapshot[];
  /** 'clear' forgets everything; 'replay' re-emits what is known */
  command?: 'clear' | 'replay';
  /** elements of the payload that were not recognised */
  skipped: number;
}

/**
 * Sorts what a message carries into its kinds. Throws an Error (with a user-facing text)
 * only when nothing at all is recognised.
 */
export function classifyInput(msg: Record<string, unknown>, now: number): ClassifiedInput {
  const out: ClassifiedInput = { skipped: 0 };
  const topic = typeof msg.topic === 'string' ? msg.topic.toLowerCase() : '';
  if (msg.reset === true || topic === 'clear' || topic === 'reset') {
    out.command = 'clear';
    return out;
  }
  if (topic === 'replay' || topic === 'refresh') {
    out.command = 'replay';
    return out;
  }
  if (Array.isArray(msg.channels)) {
    out.channels = msg.channels
      .slice(0, MAX_ITEMS)
      .map(normalizeChannel)
      .filter((c): c is DashboardChannel => c !== null);
  }
  const p = msg.payload;
  const items: unknown[] = Array.isArray(p) ? p.slice(0, MAX_ITEMS) : p === undefined || p === null ? [] : [p];
  if (Array.isArray(p) && p.length === 0 && out.channels) out.rows = [];
  for (const item of items) {
    if (looksLikeRow(item)) (out.rows ??= []).push(normalizeRow(item));
    else if (looksLikeReport(item)) (out.reports ??= []).push(normalizeReport(item));
    else if (looksLikeSnapshot(item)) (out.snapshots ??= []).push(normalizeSnapshot(item));
    else if (looksLikeAlert(item)) (out.alerts ??= []).push(normalizeAlert(item, now));
    else out.skipped++;
  }
  const recognised = out.rows || out.channels || out.reports || out.alerts || out.snapshots;
  if (!recognised && !(Array.isArray(p) && p.length === 0)) {
    throw new Error(
      'unrecognised input: expected usage rows (msg.payload [{day, model, ...}]) with msg.channels, quota reports ({model, used, limit, state}), alerts ({model, state, message}) or provider snapshots',
    );
  }
  return out;
}
