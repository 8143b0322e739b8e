/**
 * The quota-board widget's rows: one per model (case-insensitive), sorted by model.
 * Text fields are plain text for AngularJS `ng-bind` (never HTML); colours and bar widths
 * are computed here from a fixed palette so no user text reaches a style or class.
 */
import type { ProviderSnapshot } from '../routing/types';
import { compareModels } from './charts';
import { breakersForModel, formatAmount, formatPercent, summarizeBreakers } from './tables';
import type { QuotaReport } from './types';

export const STATE_COLORS: Readonly<Record<QuotaReport['state'], string>> = {
  ok: '#2e7d32',
  warn: '#f59e0b',
  exhausted: '#d32f2f',
  unknown: '#9e9e9e',
};

export interface BoardRow {
  /** lower-case model, unique per row */
  key: string;
  model: string;
  state: QuotaReport['state'];
  color: string;
  percent: number;
  percentText: string;
  /** 0..100, the bar's filled share */
  barWidth: number;
  usedText: string;
  priority: string;
  breaker: string;
  channels: string;
}

/** Merges new reports into the per-model map (key = lower-case model). Returns the same map. */
export function mergeBoardReports(store: Map<string, QuotaReport>, reports: QuotaReport[], maxModels = 500): Map<string, QuotaReport> {
  for (const r of reports) {
    if (!r.model) continue;
    const key = r.model.toLowerCase();
    if (!store.has(key) && store.size >= maxModels) continue;
    store.set(key, r);
  }
  return store;
}

export function boardRows(reports: Iterable<QuotaReport>, snapshots: ProviderSnapshot[] = []): BoardRow[] {
  const rows: BoardRow[] = [];
  for (const r of reports) {
    const breakers = breakersForModel(snapshots, r.model);
    const used = formatAmount(r.used, r.unit);
    rows.push({
      key: r.model.toLowerCase(),
      model: r.model,
      state: r.state,
      color: STATE_COLORS[r.state] ?? STATE_COLORS.unknown,
      percent: r.percent,
      percentText: formatPercent(r.percent),
      barWidth: Math.max(0, Math.min(100, Math.round(r.percent * 10) / 10)),
      usedText: r.limit === null ? `${used} ${r.unit}` : `${used} / ${formatAmount(r.limit, r.unit)} ${r.unit}`,
      priority: r.priority === null ? '' : String(r.priority),
      breaker: summarizeBreakers(breakers.map((b) => ({ label: b.account, state: b.state }))),
      channels: r.channels.join(', '),
    });
  }
  return rows.sort((a, b) => compareModels(a.model, b.model));
}

/** A compact key of the breaker states that matter to the board (to re-render only on change). */
export function breakerSignature(snapshots: ProviderSnapshot[]): string {
  const parts: string[] = [];
  for (const s of snapshots) for (const b of s.breakers) parts.push(`${s.name}\u0000${b.model.toLowerCase()}\u0000${b.state}`);
  return parts.sort().join('\u0001');
}
