/**
 * ui_table (node-red-node-ui-table) inputs: msg.payload = an array of row objects whose keys
 * are the columns ([] clears). Every cell is a plain string or number: show them in
 * "plaintext" columns (Tabulator's default, which escapes HTML), never "html" columns.
 */
import type { ProviderSnapshot } from '../routing/types';
import { zonedParts } from '../time/zoned';
import { compareModels, latestReports } from './charts';
import { round1 } from './normalize';
import type { AlertTableRow, ChannelTableRow, DashboardChannel, LivePointMessage, ProviderTableRow, QuotaAlert, QuotaReport } from './types';

/** One API channel status codes as words. */
export function channelStatusText(status: number | null): string {
  switch (status) {
    case 1:
      return 'enabled';
    case 2:
      return 'disabled';
    case 3:
      return 'auto-disabled';
    default:
      return 'unknown';
  }
}

/** 1234 -> "1.2k", 1900000 -> "1.9M"; USD as "$1.23". */
export function formatAmount(n: number, unit = ''): string {
  if (unit.toLowerCase() === 'usd') return `$${n.toFixed(2)}`;
  const abs = Math.abs(n);
  const scaled = (v: number, s: string): string => `${Number(v.toFixed(v < 10 ? 2 : 1))}${s}`;
  if (abs >= 1e9) return scaled(n / 1e9, 'G');
  if (abs >= 1e6) return scaled(n / 1e6, 'M');
  if (abs >= 1e4) return scaled(n / 1e3, 'k');
  return String(Math.round(n * 100) / 100);
}

export function formatPercent(p: number | null): string {
  return p === null ? '' : `${round1(p).toFixed(1)}%`;
}

const BREAKER_WORDS: Record<string, string> = { open: 'open', halfOpen: 'half-open', closed: 'closed' };

export interface BreakerMatch {
  account: string;
  state: 'closed' | 'open' | 'halfOpen';
  failures: number;
}

/** Every breaker of every account for `model` (case-insensitive). */
export function breakersForModel(snapshots: ProviderSnapshot[], model: string): BreakerMatch[] {
  const k = model.toLowerCase();
  const out: BreakerMatch[] = [];
  for (const s of snapshots) for (const b of s.breakers) if (b.model.toLowerCase() === k) out.push({ account: s.name, state: b.state, failures: b.failures });
  return out;
}

/**
 * "closed" when every breaker is closed; otherwise the non-closed ones, worst first, e.g.
 * "open: nvidia-1; half-open: hunyuan". `label` names each breaker (account or model).
 * "" when there is no breaker at all.
 */
export function summarizeBreakers(list: Array<{ label: string; state: string }>): string {
  if (list.length === 0) return '';
  const open = list.filter((b) => b.state === 'open').map((b) => b.label);
  const half = list.filter((b) => b.state === 'halfOpen').map((b) => b.label);
  if (open.length === 0 && half.length === 0) return 'closed';
  const parts: string[] = [];
  if (open.length) parts.push(`${BREAKER_WORDS.open}: ${open.join(', ')}`);
  if (half.length) parts.push(`${BREAKER_WORDS.halfOpen}: ${half.join(', ')}`);
  return parts.join('; ');
}

const STATE_RANK: Record<string, number> = { exhausted: 3, warn: 2, ok: 1, unknown: 0 };

/** Local channel ids are "account/model" (LocalPriorityTable): find that account's breaker. */
function localChannelBreaker(ch: DashboardChannel, snapshots: ProviderSnapshot[]): { breaker: string; healthy: boolean | null } | null {
  if (typeof ch.id !== 'string') return null;
  const slash = ch.id.indexOf('/');
  if (slash <= 0) return null;
  const account = ch.id.slice(0, slash).toLowerCase();
  const model = ch.id.slice(slash + 1).toLowerCase();
  const snap = snapshots.find((s) => s.id.toLowerCase() === account || s.name.toLowerCase() === account);
  if (!snap) return null;
  const b = snap.breakers.find((x) => x.model.toLowerCase() === model);
  return { breaker: b ? b.state : '', healthy: snap.healthy };
}

/**
 * Channel table: channels (from usage-fetch) merged with quota reports (usage % and state of
 * the channel's models; the worst model counts) and, for local channels "account/model",
 * the breaker and health probe of that account. Sorted by priority (highest first), then name.
 * Without channels, rows are derived from the channel ids the reports name.
 */
export function channelTable(channels: DashboardChannel[] | null, reports: QuotaReport[], snapshots: ProviderSnapshot[] = []): ChannelTableRow[] {
  const reps = latestReports(reports);
  const byModel = new Map(reps.map((r) => [r.model.toLowerCase(), r]));
  let list = channels;
  if (!list || list.length === 0) {
    const derived = new Map<string, DashboardChannel>();
    for (const r of reps) {
      for (const id of r.channels) {
        const key = String(id);
        let ch = derived.get(key);
        if (!ch) derived.set(key, (ch = { id, name: key, models: [], priority: r.priority, weight: null, status: null }));
        ch.models.push(r.model);
      }
    }
    list = [...derived.values()];
  }
  const rows = list.map((ch): ChannelTableRow => {
    let worst: QuotaReport | null = null;
    let maxPercent: number | null = null;
    for (const m of ch.models) {
      const r = byModel.get(m.toLowerCase());
      if (!r) continue;
      if (maxPercent === null || r.percent > maxPercent) maxPercent = r.percent;
      if (!worst || STATE_RANK[r.state] > STATE_RANK[worst.state]) worst = r;
    }
    const health: string[] = [];
    const local = localChannelBreaker(ch, snapshots);
    if (local?.breaker === 'open') health.push('breaker open');
    else if (local?.breaker === 'halfOpen') health.push('breaker half-open');
    if (local?.healthy === false) health.push('probe failing');
    if (worst && worst.state !== 'unknown' && (worst.state !== 'ok' || health.length === 0)) health.unshift(worst.state);
    if (health.length === 0 && local) health.push('ok');
    return {
      id: ch.id,
      name: ch.name,
      models: ch.models.join(', '),
      priority: ch.priority ?? '',
      weight: ch.weight ?? '',
      status: channelStatusText(ch.status),
      usage: formatPercent(maxPercent),
      health: health.join(', '),
    };
  });
  const prio = (r: ChannelTableRow): number => (typeof r.priority === 'number' ? r.priority : -Infinity);
  return rows.sort((a, b) => prio(b) - prio(a) || compareModels(a.name, b.name) || compareModels(String(a.id), String(b.id)));
}

function ratio(used: number, limit: number | null): string {
  return `${used} / ${limit === null ? '∞' : limit}`;
}

/** One row per provider account (sorted by name): rate, concurrency, queue, breakers, health. */
export function providerTable(snapshots: ProviderSnapshot[]): ProviderTableRow[] {
  return [...snapshots]
    .sort((a, b) => compareModels(a.name, b.name))
    .map((s) => ({
      account: s.name,
      rpm: ratio(s.rpmUsed, s.rpmLimit),
      concurrent: ratio(s.inFlight, s.maxConcurrent),
      queued: s.queued,
      breakers: summarizeBreakers(s.breakers.map((b) => ({ label: b.model, state: b.state }))),
      healthy: s.healthy === null ? '' : s.healthy ? 'yes' : 'no',
      shared: s.shared === 'connected' ? 'redis' : s.shared === 'local-fallback' ? 'local fallback' : '',
      successRate: s.successRate === null ? '' : formatPercent(s.successRate <= 1 ? s.successRate * 100 : s.successRate),
      p50: s.p50LatencyMs === null ? '' : `${Math.round(s.p50LatencyMs)} ms`,
    }));
}

/** Live requests/min: one point per account for a ui_chart line (series = msg.topic). */
export function livePoints(snapshots: ProviderSnapshot[]): LivePointMessage[] {
  return [...snapshots].sort((a, b) => compareModels(a.name, b.name)).map((s) => ({ topic: s.name, payload: s.rpmUsed }));
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** 'YYYY-MM-DD HH:mm:ss' in `timeZone` (IANA), or in the process's local time. */
export function formatTime(epochMs: number, timeZone?: string): string {
  let p: { year: number; month: number; day: number; hour: number; minute: number; second: number };
  if (timeZone) p = zonedParts(epochMs, timeZone);
  else {
    const d = new Date(epochMs);
    p = { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds() };
  }
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** A bounded list of recent alerts, newest first. */
export class AlertLog {
  private items: QuotaAlert[] = [];

  constructor(readonly max = 20) {}

  add(alert: QuotaAlert): void {
    this.items.unshift(alert);
    // keep newest first even when alerts carry their own (older) time
    this.items.sort((a, b) => b.time - a.time);
    if (this.items.length > this.max) this.items.length = this.max;
  }

  list(): QuotaAlert[] {
    return [...this.items];
  }

  clear(): void {
    this.items = [];
  }

  restore(items: QuotaAlert[]): void {
    this.items = items.slice(0, this.max);
  }
}

export function alertRows(alerts: QuotaAlert[], timeZone?: string): AlertTableRow[] {
  return alerts.map((a) => ({
    time: formatTime(a.time, timeZone),
    model: a.model,
    state: a.state,
    change: a.from || a.to ? `${a.from ?? '?'} → ${a.to ?? a.state}` : '',
    percent: formatPercent(a.percent),
    message: a.message,
  }));
}
