/**
 * The state behind the llm-dashboard-feed node: remembers the latest usage rows, channels,
 * quota reports, alerts and provider snapshots, and turns each arrival into the messages
 * the dashboard widgets need. Pure (no timers, no Node-RED); the node drives it.
 */
import type { ProviderSnapshot } from '../routing/types';
import { addDays } from '../time/zoned';
import { gaugeMessages, latestReports, trendChart, usageChart } from './charts';
import type { ClassifiedInput } from './normalize';
import { AlertLog, alertRows, channelTable, livePoints, providerTable } from './tables';
import type {
  AlertTableRow,
  ChannelTableRow,
  ChartMessage,
  DashboardChannel,
  DashboardUsageRow,
  GaugeMessage,
  LivePointMessage,
  ProviderTableRow,
  QuotaReport,
  TrendMetric,
  UsageChartMode,
} from './types';

export interface FeedOptions {
  /** days in the trend chart (default 7) */
  trendDays: number;
  trendMetric: TrendMetric;
  usageMode: UsageChartMode;
  /** alerts kept in the table (default 20) */
  maxAlerts: number;
  /** IANA timezone for alert times (default: the server's local time) */
  timeZone?: string;
  /** at most this many models are remembered (default 500) */
  maxModels: number;
}

export const DEFAULT_FEED_OPTIONS: FeedOptions = { trendDays: 7, trendMetric: 'totalTokens', usageMode: 'amount', maxAlerts: 20, maxModels: 500 };

export interface TableMessage<T> {
  topic: string;
  payload: T[];
}

/** What to send, by output. Absent = nothing for that output this time. */
export interface FeedOutputs {
  usage?: ChartMessage;
  trend?: ChartMessage;
  channels?: TableMessage<ChannelTableRow>;
  live?: LivePointMessage[];
  alerts?: TableMessage<AlertTableRow>;
  providers?: TableMessage<ProviderTableRow>;
  gauges?: GaugeMessage[];
}

export class DashboardFeed {
  private opts: FeedOptions;
  private rows = new Map<string, DashboardUsageRow>();
  private channels: DashboardChannel[] | null = null;
  private reports = new Map<string, QuotaReport>();
  private alertLog: AlertLog;
  private snapshots: ProviderSnapshot[] = [];
  private lastChannelTable = '';
  private lastProviderTable = '';

  constructor(opts: Partial<FeedOptions> = {}) {
    this.opts = { ...DEFAULT_FEED_OPTIONS, ...opts };
    this.alertLog = new AlertLog(this.opts.maxAlerts);
  }

  /** Applies new options (after a redeploy) while keeping the remembered data. */
  configure(opts: Partial<FeedOptions>): void {
    const alerts = this.alertLog.list();
    this.opts = { ...DEFAULT_FEED_OPTIONS, ...opts };
    this.alertLog = new AlertLog(this.opts.maxAlerts);
    this.alertLog.restore(alerts);
  }

  get options(): FeedOptions {
    return { ...this.opts };
  }

  /** Everything known, as stored (for inspection and tests). */
  state(): { rows: DashboardUsageRow[]; channels: DashboardChannel[] | null; reports: QuotaReport[]; alerts: number; snapshots: number } {
    return { rows: [...this.rows.values()], channels: this.channels, reports: latestReports([...this.reports.values()]), alerts: this.alertLog.list().length, snapshots: this.snapshots.length };
  }

  ingest(input: ClassifiedInput): FeedOutputs {
    if (input.command === 'clear') return this.clear();
    if (input.command === 'replay') return this.replay();
    const out: FeedOutputs = {};
    let channelsChanged = false;
    if (input.rows) {
      this.mergeRows(input.rows);
      out.trend = this.trend();
    }
    if (input.channels) {
      this.channels = input.channels;
      channelsChanged = true;
    }
    if (input.reports && input.reports.length) {
      for (const r of input.reports) {
        if (!r.model) continue;
        const key = r.model.toLowerCase();
        if (!this.reports.has(key) && this.reports.size >= this.opts.maxModels) continue;
        this.reports.set(key, r);
      }
      out.usage = this.usage();
      out.gauges = gaugeMessages([...this.reports.values()]);
      channelsChanged = true;
    }
    if (input.alerts && input.alerts.length) {
      for (const a of input.alerts) this.alertLog.add(a);
      out.alerts = this.alerts();
    }
    if (input.snapshots) {
      Object.assign(out, this.tick(input.snapshots));
    }
    if (channelsChanged) out.channels = this.channelTable(true);
    return out;
  }

  /** A live update from the provider registry; null = no registry (nothing is emitted). */
  tick(snapshots: ProviderSnapshot[] | null): FeedOutputs {
    if (!snapshots) return {};
    this.snapshots = snapshots;
    const out: FeedOutputs = {};
    if (snapshots.length) out.live = livePoints(snapshots);
    const prov = providerTable(snapshots);
    const provKey = JSON.stringify(prov);
    if (provKey !== this.lastProviderTable) {
      this.lastProviderTable = provKey;
      out.providers = { topic: 'providers', payload: prov };
    }
    if (this.channels || this.reports.size) {
      const ch = this.channelTable(false);
      if (ch) out.channels = ch;
    }
    return out;
  }

  /** Everything known again (after a redeploy, or on request). */
  replay(): FeedOutputs {
    const out: FeedOutputs = {};
    if (this.reports.size) {
      out.usage = this.usage();
      out.gauges = gaugeMessages([...this.reports.values()]);
    }
    if (this.rows.size) out.trend = this.trend();
    if (this.channels || this.reports.size) out.channels = this.channelTable(true);
    if (this.alertLog.list().length) out.alerts = this.alerts();
    if (this.lastProviderTable) out.providers = { topic: 'providers', payload: providerTable(this.snapshots) };
    return out;
  }

  /** Forgets everything and clears every widget. */
  clear(): FeedOutputs {
    this.rows.clear();
    this.channels = null;
    this.reports.clear();
    this.alertLog.clear();
    this.snapshots = [];
    this.lastChannelTable = '';
    this.lastProviderTable = '';
    return {
      usage: { topic: 'usage', payload: [] },
      trend: { topic: 'trend', payload: [] },
      channels: { topic: 'channels', payload: [] },
      alerts: { topic: 'alerts', payload: [] },
      providers: { topic: 'providers', payload: [] },
    };
  }

  private usage(): ChartMessage {
    return usageChart([...this.reports.values()], this.opts.usageMode);
  }

  private trend(): ChartMessage {
    return trendChart([...this.rows.values()], { days: this.opts.trendDays, metric: this.opts.trendMetric });
  }

  private alerts(): TableMessage<AlertTableRow> {
    return { topic: 'alerts', payload: alertRows(this.alertLog.list(), this.opts.timeZone) };
  }

  private channelTable(force: boolean): TableMessage<ChannelTableRow> | undefined {
    const rows = channelTable(this.channels, [...this.reports.values()], this.snapshots);
    const key = JSON.stringify(rows);
    if (!force && key === this.lastChannelTable) return undefined;
    this.lastChannelTable = key;
    return { topic: 'channels', payload: rows };
  }

  /**
   * A batch replaces the stored rows of every day it covers (a fetch lists all models of a
   * day); rows of the same day and model within a batch are summed. Days older than the
   * trend window (counted back from the newest day) are dropped.
   */
  private mergeRows(batch: DashboardUsageRow[]): void {
    const days = new Set(batch.map((r) => r.day));
    for (const [k, r] of this.rows) if (days.has(r.day)) this.rows.delete(k);
    const models = new Set([...this.rows.values()].map((r) => r.model.toLowerCase()));
    for (const r of batch) {
      if (!r.model) continue;
      const m = r.model.toLowerCase();
      if (!models.has(m)) {
        if (models.size >= this.opts.maxModels) continue;
        models.add(m);
      }
      const k = `${r.day}\u0000${m}`;
      const prev = this.rows.get(k);
      if (!prev) this.rows.set(k, { ...r });
      else {
        prev.requests += r.requests;
        prev.promptTokens += r.promptTokens;
        prev.completionTokens += r.completionTokens;
        prev.totalTokens += r.totalTokens;
        prev.quota += r.quota;
        prev.usd += r.usd;
      }
    }
    let newest = '';
    for (const r of this.rows.values()) if (r.day > newest) newest = r.day;
    if (newest) {
      const oldest = addDays(newest, -(Math.max(1, this.opts.trendDays) - 1));
      for (const [k, r] of this.rows) if (r.day < oldest) this.rows.delete(k);
    }
  }
}
