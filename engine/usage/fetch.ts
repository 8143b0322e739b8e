/**
 * One usage fetch: pick the source, ask it for the window, normalise the rows and
 * read the channel list. The gateway client is described structurally, so this
 * module does not depend on how the admin client is built.
 */
import type { Channel } from '../oneapi/types';
import type { UsageLedger } from '../ledger/usage-ledger';
import type { LocalChannel } from '../ledger/local-priorities';
import { addDays, startOfDay } from '../time/zoned';
import { fromConsumeLogs, fromLogStats, fromOneApiDashboard, fromQuotaData, fromUsageRows, type NormalizeResult } from './normalize';
import type { UsageWindow } from './window';

export type UsageSource = 'auto' | 'one-api-dashboard' | 'one-api-logs' | 'new-api-data' | 'local';
export type ResolvedSource = Exclude<UsageSource, 'auto'>;

export const USAGE_SOURCES: UsageSource[] = ['auto', 'one-api-dashboard', 'one-api-logs', 'new-api-data', 'local'];

/** What usage-fetch needs from the One API / new-api admin client. */
export interface UsageClient {
  flavour(): Promise<'one-api' | 'new-api'>;
  status(): Promise<{ quotaPerUnit: number }>;
  listChannels(): Promise<Channel[]>;
  /** raw rows (OneApiDashboardRow when well-formed); validated and counted by the normaliser */
  userDashboard(): Promise<unknown[]>;
  logStat(q: { start: number; end: number; modelName?: string }): Promise<{ quota: number }>;
  /** ConsumeLog-shaped entries with raw values; validated and counted by the normaliser */
  consumeLogs(q: { start: number; end: number }): Promise<unknown[]>;
  /** raw hourly rows (QuotaDataRow when well-formed); validated and counted by the normaliser */
  quotaData(startSec: number, endSec: number, opts?: { self?: boolean }): Promise<unknown[]>;
}

export interface ChannelInfo {
  id: number | string;
  name: string;
  models: string[];
  priority: number;
  weight: number;
  status: number;
}

export interface FetchUsageOptions {
  source: UsageSource;
  window: UsageWindow;
  client?: UsageClient | null;
  ledger?: UsageLedger;
  localChannels?: () => LocalChannel[];
  /** quota units per USD when the server cannot be asked (local source) */
  quotaPerUnit?: number;
  /** max parallel /api/log/stat calls in the log-stats fallback */
  concurrency?: number;
}

export interface FetchUsageResult extends NormalizeResult {
  source: ResolvedSource;
  channels: ChannelInfo[];
  quotaPerUnit: number;
}

export function isUsageSource(v: unknown): v is UsageSource {
  return typeof v === 'string' && (USAGE_SOURCES as string[]).includes(v);
}

export function channelInfo(c: Channel | LocalChannel): ChannelInfo {
  return {
    id: c.id,
    name: c.name,
    models: [...c.models],
    priority: c.priority,
    weight: c.weight,
    status: c.status,
  };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Per-model per-day quota from /api/log/stat (one call per model and day), when consume logs are unavailable. */
async function logStatRows(client: UsageClient, window: UsageWindow, models: string[], concurrency: number): Promise<unknown[]> {
  const jobs: Array<{ day: string; model: string }> = [];
  for (const day of window.dayKeys) for (const model of models) jobs.push({ day, model });
  return mapLimit(jobs, concurrency, async ({ day, model }) => {
    const start = Math.floor(startOfDay(day, window.timezone) / 1000);
    const end = Math.floor(startOfDay(addDays(day, 1), window.timezone) / 1000) - 1;
    const r = await client.logStat({ start, end, modelName: model });
    return { day, model, quota: r?.quota };
  });
}

export async function fetchUsage(opts: FetchUsageOptions): Promise<FetchUsageResult> {
  const { window } = opts;
  const norm = { days: window.dayKeys } as { days: string[]; quotaPerUnit?: number };

  if (opts.source === 'local') {
    if (!opts.ledger) throw new Error('no usage ledger available');
    norm.quotaPerUnit = opts.quotaPerUnit;
    const raw = await opts.ledger.rows(window.from, window.to, window.timezone);
    const res = fromUsageRows(raw, norm);
    const channels = (opts.localChannels?.() ?? []).map(channelInfo);
    return { ...res, source: 'local', channels, quotaPerUnit: opts.quotaPerUnit ?? 500_000 };
  }

  const client = opts.client;
  if (!client) throw new Error('no One API server configured (choose a server, or the local ledger source)');

  // auto: usage of all users. one-api's /api/user/dashboard only has the caller's own usage for the
  // last 7 UTC days (grouped by the database's day, not the node's timezone), so it is never chosen
  // automatically; its consume logs (falling back to per-model log stats) cover every user.
  const source: ResolvedSource = opts.source === 'auto' ? ((await client.flavour()) === 'new-api' ? 'new-api-data' : 'one-api-logs') : opts.source;
  const [status, channelList] = await Promise.all([client.status(), client.listChannels()]);
  const quotaPerUnit = status && typeof status.quotaPerUnit === 'number' && status.quotaPerUnit > 0 ? status.quotaPerUnit : 500_000;
  norm.quotaPerUnit = quotaPerUnit;
  const channels = (Array.isArray(channelList) ? channelList : []).map(channelInfo);
  const startSec = Math.floor(window.from / 1000);
  const endSec = Math.floor(window.to / 1000) - 1;

  let res: NormalizeResult;
  switch (source) {
    case 'one-api-dashboard':
      res = fromOneApiDashboard(await client.userDashboard(), norm);
      break;
    case 'new-api-data':
      res = fromQuotaData(await client.quotaData(startSec, endSec), window.timezone, norm);
      break;
    case 'one-api-logs': {
      let logs: unknown[] | null = null;
      try {
        logs = await client.consumeLogs({ start: startSec, end: endSec });
      } catch (err) {
        // Servers that refuse the log listing can still sum quota per model with /api/log/stat.
        const code = (err as { code?: unknown })?.code;
        if (code !== 'NOT_FOUND' && code !== 'BAD_RESPONSE' && code !== 'API_ERROR') throw err;
      }
      if (logs) {
        res = fromConsumeLogs(logs, window.timezone, norm);
      } else {
        const models = [...new Set(channels.flatMap((c) => c.models))];
        const stats = fromLogStats(await logStatRows(client, window, models, opts.concurrency ?? 4), norm);
        // One call per model and day answers 0 for idle pairs; those are not usage rows.
        res = { ...stats, rows: stats.rows.filter((r) => r.quota > 0) };
      }
      break;
    }
    default:
      throw new Error(`unknown usage source "${String(source)}"`);
  }
  return { ...res, source, channels, quotaPerUnit };
}
