/**
 * Applying priority / weight / enabled changes to channels (the priority-set node's
 * engine): input parsing, name resolution against the channel list, bounded
 * concurrency, dry run, read-back verification, one result or one failure per change.
 * Results never carry a server response body, only ids, names and numbers.
 */
import type { Channel, WriteResult } from '../oneapi/types';
import type { LocalPriorityTable } from '../ledger/local-priorities';
import type { ChannelInfo } from '../usage/fetch';

export type ChangeField = 'priority' | 'weight' | 'status';

export interface ChannelRef {
  id?: number | string;
  name?: string;
}

export interface ChangeRequest {
  ref: ChannelRef;
  field: ChangeField;
  /** for status: 1 enabled, 2 disabled */
  value: number;
  /** the current value as the sender saw it (e.g. quota-check's `old`), used when no channel list is at hand */
  oldHint?: number;
}

/** A channel as usage-fetch emits it in msg.channels (gateway or local table). */
export type KnownChannel = ChannelInfo;

export interface ChangeResult {
  id: number | string;
  name: string;
  field: ChangeField;
  old: number | null;
  new: number;
  dryRun: boolean;
  /** true/false when read back, null when verification was off */
  verified: boolean | null;
}

export interface ChangeFailure {
  id: number | string | null;
  name: string | null;
  field: ChangeField;
  value: number;
  error: { code: string; message: string };
}

export interface ApplyTarget {
  readonly kind: 'gateway' | 'local';
  list(): Promise<KnownChannel[]>;
  write(channel: { id: number | string; name: string }, field: ChangeField, value: number, opts: { verify: boolean; old: number | null }): Promise<{ old: number | null; dryRun: boolean; verified: boolean | null }>;
}

export interface ApplyOptions {
  concurrency?: number;
  verify?: boolean;
  dryRun?: boolean;
  /** the channel list when the caller already has it (msg.channels) */
  channels?: KnownChannel[] | null;
}

export interface ApplyOutcome {
  results: ChangeResult[];
  failures: ChangeFailure[];
}

function intValue(v: unknown, what: string, where: string): number {
  const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new Error(`${where}: ${what} must be a whole number, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Parses msg.payload: {id|name, priority} | {id|name, weight} | {id|name, enabled: bool} |
 * {id|name, status: 1|2}, or an array of those. One item may carry several fields (e.g. priority and weight). Throws a clear error on the
 * first invalid item, before anything is written.
 */
export function parseChangeRequests(payload: unknown): ChangeRequest[] {
  const items = Array.isArray(payload) ? payload : [payload];
  if (items.length === 0) throw new Error('msg.payload is an empty list: nothing to change');
  const out: ChangeRequest[] = [];
  items.forEach((raw, i) => {
    const where = Array.isArray(payload) ? `item ${i + 1}` : 'msg.payload';
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new Error(`${where} must be an object like {"id": 3, "priority": 0}, got ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw}`);
    }
    const r = raw as Record<string, unknown>;
    const ref: ChannelRef = {};
    const id = r.id;
    if (id !== undefined && id !== null && id !== '') {
      if (typeof id === 'number' && Number.isInteger(id)) ref.id = id;
      else if (typeof id === 'string') ref.id = /^\d+$/.test(id) ? Number(id) : id;
      else throw new Error(`${where}: id must be a channel id, got ${JSON.stringify(id)}`);
    }
    if (typeof r.name === 'string' && r.name.trim() !== '') ref.name = r.name.trim();
    if (ref.id === undefined && ref.name === undefined) throw new Error(`${where}: give the channel's "id" or "name"`);
    const before = out.length;
    if (r.priority !== undefined) {
      const req: ChangeRequest = { ref, field: 'priority', value: intValue(r.priority, 'priority', where) };
      if (typeof r.old === 'number' && Number.isInteger(r.old)) req.oldHint = r.old;
      out.push(req);
    }
    if (r.weight !== undefined) {
      const w = intValue(r.weight, 'weight', where);
      if (w < 0) throw new Error(`${where}: weight cannot be negative`);
      out.push({ ref, field: 'weight', value: w });
    }
    if (r.enabled !== undefined) {
      if (typeof r.enabled !== 'boolean') throw new Error(`${where}: enabled must be true or false, got ${JSON.stringify(r.enabled)}`);
      out.push({ ref, field: 'status', value: r.enabled ? 1 : 2 });
    }
    if (r.status !== undefined) {
      if (r.enabled !== undefined) throw new Error(`${where}: give "enabled" or "status", not both`);
      // Any whole number is taken here; applyChanges turns values other than 1 / 2 into a
      // failure for this item alone, so the rest of a batch still goes through.
      out.push({ ref, field: 'status', value: intValue(r.status, 'status', where) });
    }
    if (out.length === before) throw new Error(`${where}: nothing to change (give "priority", "weight", "enabled" or "status")`);
  });
  return out;
}

/** Accepts msg.channels as given by usage-fetch; anything malformed is ignored. */
export function knownChannels(v: unknown): KnownChannel[] | null {
  if (!Array.isArray(v)) return null;
  const out: KnownChannel[] = [];
  for (const c of v) {
    if (!c || typeof c !== 'object') continue;
    const o = c as Record<string, unknown>;
    if (typeof o.id !== 'number' && typeof o.id !== 'string') continue;
    out.push({
      id: o.id,
      name: typeof o.name === 'string' ? o.name : String(o.id),
      models: Array.isArray(o.models) ? o.models.filter((m): m is string => typeof m === 'string') : [],
      priority: typeof o.priority === 'number' ? o.priority : 0,
      weight: typeof o.weight === 'number' ? o.weight : 0,
      status: typeof o.status === 'number' ? o.status : 0,
    });
  }
  return out;
}

/** Resolves a reference: id first, then channel name, then the channels serving a model of that name. */
export function resolveRef(ref: ChannelRef, channels: KnownChannel[] | null): KnownChannel[] | { id: number | string; name: string }[] | null {
  if (ref.id !== undefined) {
    const hit = channels?.find((c) => String(c.id) === String(ref.id));
    return [hit ?? { id: ref.id, name: ref.name ?? String(ref.id) }];
  }
  if (!channels) return null;
  const k = (ref.name ?? '').toLowerCase();
  const byName = channels.filter((c) => c.name.toLowerCase() === k);
  if (byName.length) return byName;
  const byModel = channels.filter((c) => c.models.some((m) => m.toLowerCase() === k));
  return byModel.length ? byModel : [];
}

/** Status values a write may set: 1 enabled, 2 manually disabled (0 unknown and 3 auto-disabled are the server's own states). */
export function isSettableStatus(v: unknown): v is 1 | 2 {
  return v === 1 || v === 2;
}

function statusError(value: unknown): Error & { code: string } {
  return Object.assign(
    new Error(`status ${JSON.stringify(value)} cannot be set: use enabled true/false, or status 1 (enable) / 2 (disable)`),
    { code: 'BAD_REQUEST' },
  );
}

function currentValue(c: KnownChannel | { id: number | string; name: string }, field: ChangeField): number | null {
  if (!('priority' in c)) return null;
  return field === 'priority' ? c.priority : field === 'weight' ? c.weight : c.status;
}

function errorInfo(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERROR',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

export async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const n = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

export async function applyChanges(requests: ChangeRequest[], target: ApplyTarget, opts: ApplyOptions = {}): Promise<ApplyOutcome> {
  let channels = opts.channels ?? null;
  let fresh = false;
  if (!channels && requests.some((r) => r.ref.id === undefined)) {
    // Names need the list: read once; a failure here fails the whole message.
    channels = await target.list();
    fresh = true;
  } else if (target.kind === 'gateway') {
    // Ids only. The gateway's list gives each change its old value and catches ids that do not
    // exist: one-api (and new-api before mid-2025) answer a PUT for an unknown id with
    // success:true and add a stray ability row. msg.channels may be stale, so an id missing from
    // it is looked up in a fresh list. When the list cannot be read, the writes go ahead (and
    // fail or succeed on their own).
    const ids = requests.filter((r) => r.ref.id !== undefined).map((r) => String(r.ref.id));
    const known = new Set((channels ?? []).map((c) => String(c.id)));
    if (ids.some((id) => !known.has(id))) {
      try {
        channels = await target.list();
        fresh = true;
      } catch {
        /* unknown old values; the writes report their own errors */
      }
    }
  }

  type Job = { channel: KnownChannel | { id: number | string; name: string }; field: ChangeField; value: number; oldHint?: number };
  const jobs: Job[] = [];
  const failures: ChangeFailure[] = [];
  for (const req of requests) {
    if (req.field === 'status' && !isSettableStatus(req.value)) {
      failures.push({ id: req.ref.id ?? null, name: req.ref.name ?? null, field: req.field, value: req.value, error: errorInfo(statusError(req.value)) });
      continue;
    }
    if (fresh && target.kind === 'gateway' && req.ref.id !== undefined && !channels?.some((c) => String(c.id) === String(req.ref.id))) {
      failures.push({
        id: req.ref.id,
        name: req.ref.name ?? null,
        field: req.field,
        value: req.value,
        error: { code: 'NOT_FOUND', message: `no channel with id ${JSON.stringify(req.ref.id)} on the server; nothing written` },
      });
      continue;
    }
    const resolved = resolveRef(req.ref, channels);
    if (!resolved || resolved.length === 0) {
      failures.push({
        id: null,
        name: req.ref.name ?? null,
        field: req.field,
        value: req.value,
        error: { code: 'NOT_FOUND', message: `no channel named "${req.ref.name}" (nor serving a model of that name)` },
      });
      continue;
    }
    for (const channel of resolved) jobs.push({ channel, field: req.field, value: req.value, oldHint: req.oldHint });
  }

  // Results keep the order of the request, whatever order the writes finish in.
  const outcomes = await mapLimit(jobs, opts.concurrency ?? 4, async (job): Promise<ChangeResult | ChangeFailure> => {
    const old = currentValue(job.channel, job.field) ?? job.oldHint ?? null;
    if (opts.dryRun) {
      return { id: job.channel.id, name: job.channel.name, field: job.field, old, new: job.value, dryRun: true, verified: null };
    }
    try {
      const w = await target.write(job.channel, job.field, job.value, { verify: !!opts.verify, old });
      return {
        id: job.channel.id,
        name: job.channel.name,
        field: job.field,
        old: w.old ?? old,
        new: job.value,
        dryRun: w.dryRun,
        verified: opts.verify ? w.verified : null,
      };
    } catch (err) {
      return { id: job.channel.id, name: job.channel.name, field: job.field, value: job.value, error: errorInfo(err) };
    }
  });
  const results: ChangeResult[] = [];
  for (const o of outcomes) {
    if ('error' in o) failures.push(o);
    else results.push(o);
  }
  return { results, failures };
}

/** What the gateway target needs from the admin client. */
export interface PriorityClient {
  listChannels(): Promise<Channel[]>;
  updateChannel(id: number, patch: { priority?: number; weight?: number }, opts?: { verify?: boolean; old?: number | null }): Promise<WriteResult[]>;
  setChannelEnabled(id: number, enabled: boolean, opts?: { verify?: boolean }): Promise<WriteResult>;
}

export function gatewayTarget(client: PriorityClient): ApplyTarget {
  return {
    kind: 'gateway',
    async list() {
      return (await client.listChannels()).map((c) => ({ id: c.id, name: c.name, models: [...c.models], priority: c.priority, weight: c.weight, status: c.status }));
    },
    async write(channel, field, value, opts) {
      const id = typeof channel.id === 'number' ? channel.id : /^\d+$/.test(String(channel.id)) ? Number(channel.id) : NaN;
      if (!Number.isInteger(id)) {
        throw Object.assign(new Error(`"${channel.id}" is not a gateway channel id`), { code: 'NOT_FOUND' });
      }
      let w: WriteResult | undefined;
      if (field === 'status') {
        if (!isSettableStatus(value)) throw statusError(value);
        w = await client.setChannelEnabled(id, value === 1, { verify: opts.verify });
      } else {
        const res = await client.updateChannel(id, { [field]: value }, { verify: opts.verify, old: opts.old });
        w = Array.isArray(res) ? (res.find((r) => r.field === field) ?? res[0]) : undefined;
      }
      if (!w) return { old: opts.old, dryRun: false, verified: null };
      return { old: w.old ?? opts.old, dryRun: !!w.dryRun, verified: typeof w.verified === 'boolean' ? w.verified : null };
    },
  };
}

export function localTarget(table: LocalPriorityTable): ApplyTarget {
  return {
    kind: 'local',
    async list() {
      return table.list();
    },
    async write(channel, field, value, opts) {
      const id = String(channel.id);
      let old: number | null;
      if (field === 'priority') {
        old = table.setPriority(id, value).oldPriority;
      } else if (field === 'status') {
        if (!isSettableStatus(value)) throw statusError(value);
        const before = table.find(id);
        old = before ? before.status : null;
        table.setStatus(id, value === 1);
      } else {
        const ch = table.find(id);
        if (!ch) throw Object.assign(new Error(`unknown local channel "${id}"`), { code: 'NOT_FOUND' });
        old = ch.weight;
        ch.weight = value;
      }
      let verified: boolean | null = null;
      if (opts.verify) {
        const after = table.find(id);
        verified = !!after && (field === 'priority' ? after.priority : field === 'weight' ? after.weight : after.status) === value;
      }
      return { old, dryRun: false, verified };
    },
  };
}
