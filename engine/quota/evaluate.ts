/**
 * The quota guard's decision: given usage rows, the channel list and the allowances,
 * what each model has used, its state, which channels to demote (or restore), and
 * which alerts to raise.
 *
 * Rules (documented for users in the quota-check help):
 * - used = the sum of the allowance's unit over the rows in its window (day/month in a
 *   timezone, or every day since a date); model names match case-insensitively;
 * - state: exhausted when used >= limit, warn when used >= warnPercent % of it, else ok;
 * - demotion: every channel carrying an exhausted model whose current priority is not
 *   already 0 gets one change to 0 (one per channel, even when several of its models are
 *   exhausted). A channel carrying several models is flagged (multiModel, models);
 * - restore (only when enabled): a channel this guard demoted, still at 0, goes back to
 *   its baseline once none of its models is exhausted any more. Otherwise the daily
 *   reset-schedule restores baselines; the guard never raises priorities on its own;
 * - alerts: once per state change per model (ok->warn, ->exhausted, ->ok "recovered"),
 *   against the state remembered in `memory` (a model never seen counts as ok).
 */
import type { UsageRow } from '../ledger/usage-ledger';
import { dayKey } from '../time/zoned';
import type { Allowance, ChannelMap, QuotaUnit } from './allowances';

export type QuotaState = 'ok' | 'warn' | 'exhausted';

export interface QuotaChannel {
  id: number | string;
  name?: string;
  models?: string[];
  priority?: number | null;
  weight?: number;
  status?: number;
}

export interface QuotaReport {
  model: string;
  used: number;
  limit: number;
  unit: QuotaUnit;
  /** used / limit in percent, one decimal */
  percent: number;
  state: QuotaState;
  /** ids of the channels carrying the model */
  channels: Array<number | string>;
  channelNames: string[];
  /** the highest current priority among those channels (what the gateway routes to first), null when none is known */
  priority: number | null;
  baselinePriority: number | null;
  window: { type: 'day' | 'month' | 'total'; timezone: string | null; firstDay: string; lastDay: string };
  /** true when the rows given do not reach back to the window's first day */
  partial: boolean;
  /** true when one of its channels also carries other models */
  multiModel: boolean;
  /** all models carried by its channels (when multiModel) */
  models?: string[];
}

export interface PriorityChange {
  id: number | string;
  name: string;
  priority: number;
  /** the channel's current priority, null when unknown */
  old: number | null;
  reason: 'exhausted' | 'recovered';
  /** the allowance models that caused the change */
  model: string;
  causes: string[];
  multiModel: boolean;
  /** every model the channel carries: a change affects all of them */
  models: string[];
}

export interface QuotaAlert {
  model: string;
  kind: 'warn' | 'exhausted' | 'recovered';
  from: QuotaState;
  to: QuotaState;
  used: number;
  limit: number;
  unit: QuotaUnit;
  percent: number;
  channels: Array<number | string>;
  text: string;
}

/** What the guard remembers between messages (plain JSON, so it can live in context). */
export interface QuotaMemory {
  /** lower-case model -> last state */
  states: Record<string, QuotaState>;
  /** channel id (as string) -> epoch ms when this guard demoted it */
  demoted: Record<string, number>;
}

export function emptyMemory(): QuotaMemory {
  return { states: {}, demoted: {} };
}

export function isQuotaMemory(v: unknown): v is QuotaMemory {
  return !!v && typeof v === 'object' && typeof (v as QuotaMemory).states === 'object' && typeof (v as QuotaMemory).demoted === 'object';
}

export interface EvaluateOptions {
  allowances: Allowance[];
  rows: UsageRow[];
  channels: QuotaChannel[];
  channelMap?: ChannelMap | null;
  memory?: QuotaMemory;
  /** timezone for day/month windows without their own (usually msg.window.timezone) */
  defaultTimeZone: string;
  /** first day the rows cover (msg.window.firstDay), to flag partial windows */
  rowsFirstDay?: string;
  restoreOnRecovery?: boolean;
  now?: number;
}

export interface EvaluateResult {
  reports: QuotaReport[];
  changes: PriorityChange[];
  alerts: QuotaAlert[];
  memory: QuotaMemory;
}

const UNIT_FIELD: Record<QuotaUnit, keyof UsageRow> = {
  tokens: 'totalTokens',
  quota: 'quota',
  requests: 'requests',
  usd: 'usd',
};

const UNIT_LABEL: Record<QuotaUnit, string> = { tokens: 'tokens', quota: 'quota units', requests: 'requests', usd: 'USD' };

function windowDays(a: Allowance, defaultTz: string, now: number): QuotaReport['window'] {
  if (a.window.type === 'total') {
    return { type: 'total', timezone: null, firstDay: a.window.since, lastDay: dayKey(now, defaultTz) };
  }
  const tz = a.window.tz || defaultTz;
  const today = dayKey(now, tz);
  if (a.window.type === 'day') return { type: 'day', timezone: tz, firstDay: today, lastDay: today };
  return { type: 'month', timezone: tz, firstDay: `${today.slice(0, 7)}-01`, lastDay: today };
}

function fmt(n: number, unit: QuotaUnit): string {
  if (unit === 'usd') return `$${n.toFixed(2)}`;
  return Math.round(n).toLocaleString('en-US');
}

function stateOf(used: number, a: Allowance): QuotaState {
  if (used >= a.limit) return 'exhausted';
  if ((used / a.limit) * 100 >= a.warnPercent) return 'warn';
  return 'ok';
}

function channelKey(id: number | string): string {
  return String(id);
}

/** Channels carrying `model`: from the explicit map when it names the model, else from the channel list. */
function channelsFor(model: string, channels: QuotaChannel[], map: ChannelMap | null | undefined): QuotaChannel[] {
  const k = model.toLowerCase();
  const mapped = map?.get(k);
  if (mapped) {
    const out: QuotaChannel[] = [];
    for (const ref of mapped) {
      const found =
        channels.find((c) => c.id === ref || String(c.id) === String(ref)) ??
        (typeof ref === 'string' ? channels.find((c) => (c.name ?? '').toLowerCase() === ref.toLowerCase()) : undefined);
      // A mapped channel missing from the list is still addressed by id (its priority is unknown).
      out.push(found ?? { id: ref, name: typeof ref === 'string' ? ref : String(ref), models: [model] });
    }
    return out;
  }
  return channels.filter((c) => Array.isArray(c.models) && c.models.some((m) => typeof m === 'string' && m.toLowerCase() === k));
}

/** The channel's priority; a database null counts as 0 (as the gateways treat it); undefined means unknown. */
function currentPriority(c: QuotaChannel): number | null {
  if (typeof c.priority === 'number' && Number.isFinite(c.priority)) return c.priority;
  return c.priority === null ? 0 : null;
}

export function evaluateQuota(opts: EvaluateOptions): EvaluateResult {
  const now = opts.now ?? Date.now();
  const prev = opts.memory ?? emptyMemory();
  const memory: QuotaMemory = { states: {}, demoted: { ...prev.demoted } };
  const channels = Array.isArray(opts.channels) ? opts.channels : [];

  // Usage per lower-case model and day, summed once.
  const byModel = new Map<string, UsageRow[]>();
  for (const r of opts.rows) {
    const k = r.model.toLowerCase();
    let list = byModel.get(k);
    if (!list) byModel.set(k, (list = []));
    list.push(r);
  }

  const reports: QuotaReport[] = [];
  const alerts: QuotaAlert[] = [];
  const exhaustedByChannel = new Map<string, { channel: QuotaChannel; causes: string[] }>();
  const modelsOfChannel = new Map<string, QuotaChannel>();
  const stateByModel = new Map<string, QuotaState>();

  for (const a of opts.allowances) {
    const key = a.model.toLowerCase();
    const win = windowDays(a, opts.defaultTimeZone, now);
    const field = UNIT_FIELD[a.unit];
    let used = 0;
    for (const r of byModel.get(key) ?? []) {
      if (r.day < win.firstDay || r.day > win.lastDay) continue;
      used += r[field] as number;
    }
    if (a.unit === 'usd') used = Math.round(used * 1e6) / 1e6;
    const percent = Math.round((used / a.limit) * 1000) / 10;
    const state = stateOf(used, a);
    stateByModel.set(key, state);

    const chans = channelsFor(a.model, channels, opts.channelMap);
    const allModels = new Set<string>();
    let multiModel = false;
    for (const c of chans) {
      modelsOfChannel.set(channelKey(c.id), c);
      const ms = Array.isArray(c.models) ? c.models : [];
      if (ms.length > 1) multiModel = true;
      for (const m of ms) allModels.add(m);
    }
    const prios = chans.map(currentPriority).filter((p): p is number => p !== null);
    const report: QuotaReport = {
      model: a.model,
      used,
      limit: a.limit,
      unit: a.unit,
      percent,
      state,
      channels: chans.map((c) => c.id),
      channelNames: chans.map((c) => c.name ?? String(c.id)),
      priority: prios.length ? Math.max(...prios) : null,
      baselinePriority: a.baselinePriority ?? null,
      window: win,
      partial: !!opts.rowsFirstDay && opts.rowsFirstDay > win.firstDay,
      multiModel,
      ...(multiModel ? { models: [...allModels] } : {}),
    };
    reports.push(report);

    const before = prev.states[key] ?? 'ok';
    memory.states[key] = state;
    if (before !== state) {
      const kind = state === 'ok' ? 'recovered' : state;
      const text =
        kind === 'recovered'
          ? `${a.model} recovered: ${fmt(used, a.unit)} of ${fmt(a.limit, a.unit)} ${UNIT_LABEL[a.unit]} used (${percent}%)`
          : `${a.model} ${kind === 'warn' ? 'is near its allowance' : 'has used up its allowance'}: ${fmt(used, a.unit)} of ${fmt(a.limit, a.unit)} ${UNIT_LABEL[a.unit]} (${percent}%)`;
      alerts.push({ model: a.model, kind, from: before, to: state, used, limit: a.limit, unit: a.unit, percent, channels: report.channels, text });
    }

    if (state === 'exhausted') {
      for (const c of chans) {
        const ck = channelKey(c.id);
        const entry = exhaustedByChannel.get(ck) ?? { channel: c, causes: [] };
        entry.causes.push(a.model);
        exhaustedByChannel.set(ck, entry);
      }
    }
  }

  const changes: PriorityChange[] = [];
  for (const [ck, { channel, causes }] of exhaustedByChannel) {
    const cur = currentPriority(channel);
    const models = Array.isArray(channel.models) ? [...channel.models] : [];
    if (cur === 0) {
      continue; // already demoted: no repeated write
    }
    if (cur === null && memory.demoted[ck] !== undefined) continue; // unknown now, demoted before
    changes.push({
      id: channel.id,
      name: channel.name ?? String(channel.id),
      priority: 0,
      old: cur,
      reason: 'exhausted',
      model: causes[0],
      causes,
      multiModel: models.length > 1,
      models,
    });
    memory.demoted[ck] = now;
  }

  // Forget demotions someone else has undone (e.g. the daily reset), and restore when asked to.
  const allowanceOf = new Map(opts.allowances.map((a) => [a.model.toLowerCase(), a]));
  for (const ck of Object.keys(memory.demoted)) {
    if (exhaustedByChannel.has(ck)) continue;
    const channel = modelsOfChannel.get(ck) ?? channels.find((c) => channelKey(c.id) === ck);
    if (!channel) continue;
    const cur = currentPriority(channel);
    if (cur !== null && cur !== 0) {
      delete memory.demoted[ck];
      continue;
    }
    if (!opts.restoreOnRecovery) continue;
    const models = Array.isArray(channel.models) ? channel.models : [];
    const governing = models.map((m) => allowanceOf.get(m.toLowerCase())).filter((a): a is Allowance => !!a);
    if (governing.some((a) => stateByModel.get(a.model.toLowerCase()) === 'exhausted')) continue;
    const baselines = governing.map((a) => a.baselinePriority).filter((p): p is number => typeof p === 'number');
    if (!baselines.length) continue;
    changes.push({
      id: channel.id,
      name: channel.name ?? String(channel.id),
      priority: Math.max(...baselines),
      old: cur,
      reason: 'recovered',
      model: governing[0].model,
      causes: governing.map((a) => a.model),
      multiModel: models.length > 1,
      models: [...models],
    });
    delete memory.demoted[ck];
  }

  return { reports, changes, alerts, memory };
}

/** The worst state and its percent, for a node status. */
export function worstState(reports: QuotaReport[]): { state: QuotaState; model: string; percent: number } | null {
  const rank: Record<QuotaState, number> = { ok: 0, warn: 1, exhausted: 2 };
  let best: QuotaReport | null = null;
  for (const r of reports) {
    if (!best || rank[r.state] > rank[best.state] || (rank[r.state] === rank[best.state] && r.percent > best.percent)) best = r;
  }
  return best ? { state: best.state, model: best.model, percent: best.percent } : null;
}
