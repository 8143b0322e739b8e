/**
 * The router's own usage ledger: what the routing nodes spent, per model, kept in
 * 15-minute buckets so it can be grouped into days in any timezone. usage-fetch's
 * "local" source reads it; reset-schedule can clear windows.
 *
 * The store behind it is pluggable (memory by default; Redis for several instances).
 */
import { dayKey } from '../time/zoned';

export interface UsageRecord {
  /** epoch ms; defaults to now */
  time?: number;
  provider?: string;
  model: string;
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
  requests?: number;
  /** cost of the call in USD, when known */
  usd?: number;
  /** gateway quota units, when known */
  quota?: number;
}

/** One normalised usage row, as usage-fetch emits (SPEC §2). */
export interface UsageRow {
  day: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  quota: number;
  usd: number;
}

export interface LedgerBucket {
  /** bucket start, epoch ms, multiple of BUCKET_MS */
  start: number;
  model: string;
  provider: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  quota: number;
  usd: number;
}

export const BUCKET_MS = 15 * 60 * 1000;

export interface LedgerStore {
  add(bucket: LedgerBucket): void | Promise<void>;
  /** Buckets with start in [from, to). */
  range(from: number, to: number): LedgerBucket[] | Promise<LedgerBucket[]>;
  /** Removes buckets with start in [from, to), optionally for one model only. */
  clear(from: number, to: number, model?: string): void | Promise<void>;
}

function finite(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

export class MemoryLedgerStore implements LedgerStore {
  private readonly buckets = new Map<string, LedgerBucket>();
  constructor(private readonly retainMs = 62 * 24 * 3600 * 1000) {}

  add(b: LedgerBucket): void {
    const key = `${b.start}|${b.provider}|${b.model}`;
    const cur = this.buckets.get(key);
    if (cur) {
      cur.requests += b.requests;
      cur.promptTokens += b.promptTokens;
      cur.completionTokens += b.completionTokens;
      cur.totalTokens += b.totalTokens;
      cur.quota += b.quota;
      cur.usd += b.usd;
    } else {
      this.buckets.set(key, { ...b });
    }
    this.prune(b.start);
  }

  range(from: number, to: number): LedgerBucket[] {
    const out: LedgerBucket[] = [];
    for (const b of this.buckets.values()) if (b.start >= from && b.start < to) out.push({ ...b });
    return out;
  }

  clear(from: number, to: number, model?: string): void {
    const m = model?.toLowerCase();
    for (const [k, b] of this.buckets) {
      if (b.start >= from && b.start < to && (!m || b.model.toLowerCase() === m)) this.buckets.delete(k);
    }
  }

  private prune(latest: number): void {
    if (this.buckets.size < 5000) return;
    const cutoff = latest - this.retainMs;
    for (const [k, b] of this.buckets) if (b.start < cutoff) this.buckets.delete(k);
  }
}

export class UsageLedger {
  constructor(public store: LedgerStore = new MemoryLedgerStore()) {}

  async record(r: UsageRecord): Promise<void> {
    if (!r || typeof r.model !== 'string' || r.model === '') return;
    const time = typeof r.time === 'number' && Number.isFinite(r.time) ? r.time : Date.now();
    const prompt = finite(r.promptTokens);
    const completion = finite(r.completionTokens);
    const total = finite(r.totalTokens) || prompt + completion;
    await this.store.add({
      start: Math.floor(time / BUCKET_MS) * BUCKET_MS,
      model: r.model,
      provider: r.provider ?? '',
      requests: r.requests === undefined ? 1 : finite(r.requests),
      promptTokens: prompt,
      completionTokens: completion,
      totalTokens: total,
      quota: finite(r.quota),
      usd: finite(r.usd),
    });
  }

  /** Rows per (day in `tz`, model) for buckets in [from, to). */
  async rows(from: number, to: number, tz: string): Promise<UsageRow[]> {
    const buckets = await this.store.range(from, to);
    const byKey = new Map<string, UsageRow>();
    for (const b of buckets) {
      const day = dayKey(b.start, tz);
      const key = `${day}|${b.model}`;
      let row = byKey.get(key);
      if (!row) {
        row = { day, model: b.model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, quota: 0, usd: 0 };
        byKey.set(key, row);
      }
      row.requests += b.requests;
      row.promptTokens += b.promptTokens;
      row.completionTokens += b.completionTokens;
      row.totalTokens += b.totalTokens;
      row.quota += b.quota;
      row.usd += b.usd;
    }
    return [...byKey.values()].sort((a, b) => (a.day === b.day ? a.model.localeCompare(b.model) : a.day < b.day ? -1 : 1));
  }

  async clear(from: number, to: number, model?: string): Promise<void> {
    await this.store.clear(from, to, model);
  }
}

/** The process-wide ledger the routing nodes write and usage-fetch reads. */
export const defaultLedger = new UsageLedger();
