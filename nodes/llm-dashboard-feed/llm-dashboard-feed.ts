/**
 * llm-dashboard-feed: sits between quota-check / usage-fetch and Dashboard 1 widgets. It
 * recognises what arrives (usage rows + channels, quota reports, alerts, provider snapshots),
 * remembers the latest of each, and emits ready-made widget inputs on separate outputs:
 *   1 usage vs allowance (ui_chart bar)      2 7-day stacked trend (ui_chart bar)
 *   3 channel table (ui_table)                4 live requests/min per account (ui_chart line)
 *   5 alerts table (ui_table)                 6 provider accounts table (ui_table)
 *   7 per-model usage % (ui_gauge, one message per model, msg.topic = model)
 * Outputs 4 and 6 follow the provider registry on their own interval.
 * It only emits messages, so it works whether or not node-red-dashboard is installed.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, SendFn } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { DebouncedStatus } from '../shared/status';
import { DashboardFeed, type FeedOptions, type FeedOutputs } from '../../engine/dashboard/feed';
import { classifyInput } from '../../engine/dashboard/normalize';
import { readProviderSnapshots } from '../../engine/dashboard/providers';
import { TREND_METRICS, type TrendMetric } from '../../engine/dashboard/types';
import { isValidTimeZone } from '../../engine/time/zoned';

interface FeedDef extends NodeDef {
  usageMode?: string;
  trendDays?: number | string;
  trendMetric?: string;
  maxAlerts?: number | string;
  timeZone?: string;
  liveInterval?: number | string;
  replayOnStart?: boolean | string;
}

/**
 * Remembered data per node id: a redeploy (which recreates the node with the same id) keeps
 * the charts' data; deleting the node forgets it; a Node-RED restart starts empty until the
 * next usage-fetch / quota-check run.
 */
const feeds = new Map<string, DashboardFeed>();

/** The outputs, in order. */
const OUTPUTS = ['usage', 'trend', 'channels', 'live', 'alerts', 'providers', 'gauges'] as const;

function intIn(v: unknown, min: number, max: number, fallback: number): number {
  const n = Number(v);
  return Number.isFinite(n) && n >= min && n <= max ? Math.floor(n) : fallback;
}

function toMessages(out: FeedOutputs): Array<NodeMessage | NodeMessage[] | null> {
  return OUTPUTS.map((k) => {
    const v = out[k];
    if (v === undefined) return null;
    if (Array.isArray(v)) return v.length ? (v as unknown as NodeMessage[]) : null;
    return v as unknown as NodeMessage;
  });
}

function hasAny(out: FeedOutputs): boolean {
  return OUTPUTS.some((k) => out[k] !== undefined);
}

export = function (RED: NodeAPI) {
  function LlmDashboardFeed(this: Node, def: FeedDef) {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node);
    const trendMetric: TrendMetric = (TREND_METRICS as string[]).includes(String(def.trendMetric)) ? (def.trendMetric as TrendMetric) : 'totalTokens';
    const tz = typeof def.timeZone === 'string' ? def.timeZone.trim() : '';
    const opts: Partial<FeedOptions> = {
      usageMode: def.usageMode === 'percent' ? 'percent' : 'amount',
      trendDays: intIn(def.trendDays, 1, 92, 7),
      trendMetric,
      maxAlerts: intIn(def.maxAlerts, 1, 1000, 20),
      timeZone: tz && isValidTimeZone(tz) ? tz : undefined,
    };
    if (tz && !opts.timeZone) node.error(RED._('llm-dashboard-feed.errors.timeZone', { tz }));
    const intervalMs = Math.round(Math.max(0, Math.min(3600, Number(def.liveInterval ?? 2) || 0)) * 1000);
    const replay = def.replayOnStart !== false && def.replayOnStart !== 'false';

    let feed = feeds.get(node.id);
    if (feed) feed.configure(opts);
    else feeds.set(node.id, (feed = new DashboardFeed(opts)));
    const state = feed;

    const showStatus = (): void => {
      const s = state.state();
      if (s.reports.length === 0 && s.rows.length === 0 && !s.channels) {
        status.set({ fill: 'grey', shape: 'ring', text: RED._('llm-dashboard-feed.status.waiting') });
        return;
      }
      const exhausted = s.reports.filter((r) => r.state === 'exhausted').length;
      const warn = s.reports.filter((r) => r.state === 'warn').length;
      status.set({
        fill: exhausted ? 'red' : warn ? 'yellow' : 'green',
        shape: 'dot',
        text: RED._('llm-dashboard-feed.status.summary', { models: s.reports.length, warn, exhausted, alerts: s.alerts }),
      });
    };

    const emit = (out: FeedOutputs, send: SendFn): void => {
      if (hasAny(out)) send(toMessages(out));
    };

    onInput(node, (msg, send) => {
      const input = classifyInput(msg as Record<string, unknown>, Date.now());
      emit(state.ingest(input), send);
      showStatus();
    });

    let timer: NodeJS.Timeout | null = null;
    if (intervalMs > 0) {
      timer = setInterval(() => {
        try {
          emit(state.tick(readProviderSnapshots()), (m) => node.send(m));
        } catch (err) {
          node.error(err);
        }
      }, intervalMs);
    }
    let replayTimer: NodeJS.Timeout | null = null;
    if (replay) {
      // After a redeploy the widgets may be new too: send what is known once every node exists.
      replayTimer = setTimeout(() => {
        replayTimer = null;
        emit(state.replay(), (m) => node.send(m));
      }, 250);
    }
    showStatus();

    node.on('close', (removed: boolean, done: () => void) => {
      if (timer) clearInterval(timer);
      if (replayTimer) clearTimeout(replayTimer);
      timer = null;
      replayTimer = null;
      status.clear();
      if (removed) feeds.delete(node.id);
      done();
    });
  }

  RED.nodes.registerType('llm-dashboard-feed', LlmDashboardFeed);
};
