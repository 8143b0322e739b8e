/**
 * Dashboard 1 ui_chart inputs (node-red-dashboard 3.x "whole chart" format):
 * msg.payload = [{series: [...], data: [[...one value per label] per series], labels: [...]}],
 * or [] to clear the chart.
 */
import { addDays } from '../time/zoned';
import { round1 } from './normalize';
import type {
  ChartControl,
  ChartMessage,
  DashboardUsageRow,
  GaugeMessage,
  QuotaReport,
  TrendMetric,
  UsageChartMode,
} from './types';

/** Chart.js 2 options that stack bar series (merged by ui_chart from msg.ui_control.options). */
export function stackedControl(): ChartControl {
  return { options: { scales: { xAxes: [{ stacked: true }], yAxes: [{ stacked: true }] } } };
}

/** Case-insensitive model order, ties broken by the exact spelling (stable, deterministic). */
export function compareModels(a: string, b: string): number {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One report per model (case-insensitive; the later report wins), sorted by model. */
export function latestReports(reports: QuotaReport[]): QuotaReport[] {
  const byModel = new Map<string, QuotaReport>();
  for (const r of reports) if (r.model) byModel.set(r.model.toLowerCase(), r);
  return [...byModel.values()].sort((a, b) => compareModels(a.model, b.model));
}

/**
 * Today's (the quota window's) usage against each model's allowance, one bar per model.
 * - mode 'amount': two stacked series, "used" and "remaining" (max(0, limit - used);
 *   0 when no limit is known), in each model's own unit; comes with the stacking ui_control.
 * - mode 'percent': one series "used %" (0..∞, one decimal).
 */
export function usageChart(reports: QuotaReport[], mode: UsageChartMode = 'amount'): ChartMessage {
  const list = latestReports(reports);
  if (list.length === 0) return { topic: 'usage', payload: [] };
  const labels = list.map((r) => r.model);
  if (mode === 'percent') {
    return { topic: 'usage', payload: [{ series: ['used %'], data: [list.map((r) => round1(r.percent))], labels }] };
  }
  return {
    topic: 'usage',
    payload: [
      {
        series: ['used', 'remaining'],
        data: [list.map((r) => r.used), list.map((r) => (r.limit === null ? 0 : Math.max(0, r.limit - r.used)))],
        labels,
      },
    ],
    ui_control: stackedControl(),
  };
}

/** One message per model for a ui_gauge (route by msg.topic with a switch node). */
export function gaugeMessages(reports: QuotaReport[]): GaugeMessage[] {
  return latestReports(reports).map((r) => ({ topic: r.model, payload: round1(r.percent), state: r.state }));
}

export interface TrendOptions {
  /** number of days, ending with `endDay` (default 7) */
  days?: number;
  /** which row field is summed (default totalTokens) */
  metric?: TrendMetric;
  /** the last day shown ('YYYY-MM-DD'); default: the latest day in the rows */
  endDay?: string;
}

/**
 * A stacked bar chart of the last `days` days per model: labels = days (oldest first, every
 * day present even without usage), series = models (case-insensitive, sorted), data[i][j] =
 * the metric of model i on day j (rows of the same model and day are summed).
 */
export function trendChart(rows: DashboardUsageRow[], opts: TrendOptions = {}): ChartMessage {
  const days = Math.max(1, Math.min(366, Math.floor(opts.days ?? 7)));
  const metric = opts.metric ?? 'totalTokens';
  let end = opts.endDay;
  if (!end) for (const r of rows) if (!end || r.day > end) end = r.day;
  if (!end) return { topic: 'trend', payload: [] };
  const labels: string[] = [];
  for (let i = days - 1; i >= 0; i--) labels.push(addDays(end, -i));
  const dayIndex = new Map(labels.map((d, i) => [d, i]));
  const names = new Map<string, string>();
  const sums = new Map<string, number[]>();
  for (const r of rows) {
    const j = dayIndex.get(r.day);
    if (j === undefined || !r.model) continue;
    const key = r.model.toLowerCase();
    const prev = names.get(key);
    if (prev === undefined || compareModels(r.model, prev) < 0) names.set(key, r.model);
    let arr = sums.get(key);
    if (!arr) sums.set(key, (arr = new Array<number>(days).fill(0)));
    arr[j] += r[metric];
  }
  if (sums.size === 0) return { topic: 'trend', payload: [] };
  const keys = [...sums.keys()].sort((a, b) => compareModels(names.get(a)!, names.get(b)!));
  return {
    topic: 'trend',
    payload: [{ series: keys.map((k) => names.get(k)!), data: keys.map((k) => sums.get(k)!.map((v) => roundMetric(v, metric))), labels }],
    ui_control: stackedControl(),
  };
}

function roundMetric(v: number, metric: TrendMetric): number {
  // Money keeps cents (float sums drift); counts are integers already.
  return metric === 'usd' ? Math.round(v * 1e4) / 1e4 : v;
}
