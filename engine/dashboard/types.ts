/**
 * Shapes the dashboard formatters consume and produce.
 *
 * Escaping: nothing in engine/dashboard HTML-escapes text. The values are data, and each
 * renderer is responsible for showing them as text:
 *  - ui_chart (Chart.js 2) draws labels, series names and tooltips on a canvas: no HTML;
 *  - ui_table (Tabulator) escapes cell values with its default "plaintext" formatter; a
 *    column configured with the "html" formatter would NOT escape, so the table rows here
 *    must only be shown in plaintext columns (the default when no columns are configured);
 *  - the quota-board widget binds every text with AngularJS `ng-bind` (textContent).
 * Text that comes from users (model, channel and account names, alert messages) is only
 * trimmed of control characters and length-limited here (see `cleanText`).
 */

import type { UsageRow } from '../ledger/usage-ledger';

export type QuotaState = 'ok' | 'warn' | 'exhausted';

/** quota-check output 2: one report per model. */
export interface QuotaReport {
  model: string;
  used: number;
  /** null = no allowance known */
  limit: number | null;
  unit: string;
  percent: number;
  state: QuotaState | 'unknown';
  channels: Array<string | number>;
  priority: number | null;
}

/** quota-check output 3: a state change of one model. */
export interface QuotaAlert {
  model: string;
  from: string | null;
  to: string | null;
  state: string;
  percent: number | null;
  message: string;
  /** epoch ms the alert was received (or its own `time`, when given) */
  time: number;
}

/** usage-fetch msg.payload rows (SPEC §2). */
export type DashboardUsageRow = UsageRow;

/** usage-fetch msg.channels entries (One API channels or the local priority table). */
export interface DashboardChannel {
  id: string | number;
  name: string;
  models: string[];
  priority: number | null;
  weight: number | null;
  /** 0 unknown, 1 enabled, 2 manually disabled, 3 auto-disabled */
  status: number | null;
}

/** Dashboard 1 ui_chart "whole chart" payload: an array with one object, or [] to clear. */
export type ChartPayload = Array<{ series: string[]; data: number[][]; labels: string[] }>;

/** msg.ui_control accepted by ui_chart: shallow-merged into the Chart.js 2 options. */
export interface ChartControl {
  options: Record<string, unknown>;
}

export interface ChartMessage {
  topic: string;
  payload: ChartPayload;
  ui_control?: ChartControl;
}

export type TrendMetric = 'totalTokens' | 'requests' | 'promptTokens' | 'completionTokens' | 'quota' | 'usd';
export const TREND_METRICS: TrendMetric[] = ['totalTokens', 'requests', 'promptTokens', 'completionTokens', 'quota', 'usd'];

export type UsageChartMode = 'amount' | 'percent';

/** ui_table rows: one object per row, keys are the column fields. */
export interface ChannelTableRow {
  id: string | number;
  name: string;
  models: string;
  priority: number | string;
  weight: number | string;
  status: string;
  usage: string;
  health: string;
}

export interface ProviderTableRow {
  account: string;
  rpm: string;
  concurrent: string;
  queued: number;
  breakers: string;
  healthy: string;
  shared: string;
  successRate: string;
  p50: string;
}

export interface AlertTableRow {
  time: string;
  model: string;
  state: string;
  change: string;
  percent: string;
  message: string;
}

/** One line of live requests/min: wire to a ui_chart of type line (series = topic). */
export interface LivePointMessage {
  topic: string;
  payload: number;
}

/** One value per model for a ui_gauge (0..100). */
export interface GaugeMessage {
  topic: string;
  payload: number;
  state: QuotaState | 'unknown';
}
