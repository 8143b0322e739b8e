/**
 * The usage ledger kept in Redis, so several Node-RED instances share one ledger
 * (SPEC §5). Same 15-minute buckets as the memory store:
 *
 *   <prefix>:ledger:b:<start>   hash, field "<metric>|<provider>|<model>" (parts
 *                               URI-encoded), incremented with HINCRBY / HINCRBYFLOAT,
 *                               expiring after `retainMs`
 *   <prefix>:ledger:index       sorted set of bucket starts (score = start)
 *
 * While Redis is unreachable, add() keeps the usage in memory and writes it when
 * the connection returns (nothing recorded is lost); range() and clear() fail
 * with a clear error rather than answer with partial figures.
 */
import type { LedgerBucket, LedgerStore } from './usage-ledger';
import { BUCKET_MS, MemoryLedgerStore } from './usage-ledger';
import { acquireRedis, releaseRedis, RedisConnectionManager, type SharedStoreState } from '../shared-store/redis-connection';

const METRICS = ['requests', 'promptTokens', 'completionTokens', 'totalTokens', 'quota', 'usd'] as const;
type Metric = (typeof METRICS)[number];

export interface RedisLedgerStoreOptions {
  /** A Redis URL (the process-wide connection for it is shared) or a connection manager. */
  redis: string | RedisConnectionManager;
  /** Key prefix (default 'llm-router'). */
  keyPrefix?: string;
  /** How long buckets are kept (ms, default 62 days). */
  retainMs?: number;
}

function field(metric: Metric, provider: string, model: string): string {
  return `${metric}|${encodeURIComponent(provider)}|${encodeURIComponent(model)}`;
}

function parseField(f: string): { metric: Metric; provider: string; model: string } | null {
  const parts = f.split('|');
  if (parts.length !== 3 || !(METRICS as readonly string[]).includes(parts[0])) return null;
  try {
    return { metric: parts[0] as Metric, provider: decodeURIComponent(parts[1]), model: decodeURIComponent(parts[2]) };
  } catch {
    return null;
  }
}

export class RedisLedgerStore implements LedgerStore {
  private readonly manager: RedisConnectionManager;
  private readonly owns: boolean;
  private readonly prefix: string;
  private readonly retainMs: number;
  private pending = new MemoryLedgerStore(Number.MAX_SAFE_INTEGER);
  private pendingKeys = new Set<string>();
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly onState = (s: SharedStoreState) => {
    if (s === 'connected') void this.flush().catch(() => undefined);
  };

  constructor(opts: RedisLedgerStoreOptions) {
    if (!opts || !opts.redis) throw new Error('redis ledger: a Redis URL or connection is required');
    if (typeof opts.redis === 'string') {
      this.manager = acquireRedis(opts.redis);
      this.owns = true;
    } else {
      this.manager = opts.redis;
      this.owns = false;
    }
    this.prefix = `${opts.keyPrefix || 'llm-router'}:ledger`;
    this.retainMs = opts.retainMs && opts.retainMs > 0 ? opts.retainMs : 62 * 24 * 3600 * 1000;
    this.manager.on('state', this.onState);
  }

  /** 'connected' | 'local-fallback' | ... of the underlying connection. */
  get state(): SharedStoreState {
    return this.manager.state;
  }

  /** Buckets recorded while Redis was away and not written yet. */
  pendingBuckets(): number {
    return this.pendingKeys.size;
  }

  private bucketKey(start: number): string {
    return `${this.prefix}:b:${start}`;
  }

  private indexKey(): string {
    return `${this.prefix}:index`;
  }

  async add(b: LedgerBucket): Promise<void> {
    if (this.closed) throw new Error('redis ledger: closed');
    if (!this.manager.connected) {
      this.keep(b);
      return;
    }
    try {
      await this.write([b]);
    } catch {
      this.keep(b);
    }
  }

  private keep(b: LedgerBucket): void {
    this.pending.add(b);
    this.pendingKeys.add(`${b.start}|${b.provider}|${b.model}`);
  }

  private async write(buckets: LedgerBucket[]): Promise<void> {
    const multi = this.manager.client.multi();
    const starts = new Set<number>();
    for (const b of buckets) {
      const key = this.bucketKey(b.start);
      for (const m of METRICS) {
        const v = b[m];
        if (!(typeof v === 'number' && Number.isFinite(v)) || v === 0) continue;
        if (Number.isInteger(v)) multi.hincrby(key, field(m, b.provider, b.model), v);
        else multi.hincrbyfloat(key, field(m, b.provider, b.model), v);
      }
      if (!starts.has(b.start)) {
        starts.add(b.start);
        multi.pexpireat(key, b.start + BUCKET_MS + this.retainMs);
        multi.zadd(this.indexKey(), b.start, String(b.start));
      }
    }
    const latest = Math.max(...starts);
    multi.zremrangebyscore(this.indexKey(), '-inf', `(${latest - this.retainMs}`);
    const res = await multi.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw new Error(`redis ledger: write failed${failed ? `: ${String(failed[0])}` : ''}`);
  }

  /** Writes usage kept while Redis was away. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const run = async () => {
      const buckets = this.pending.range(-Infinity, Infinity);
      if (buckets.length === 0) return;
      this.pending = new MemoryLedgerStore(Number.MAX_SAFE_INTEGER);
      this.pendingKeys = new Set();
      try {
        await this.write(buckets);
      } catch (err) {
        for (const b of buckets) this.keep(b);
        throw err;
      }
    };
    this.flushing = run().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private requireConnected(): void {
    if (this.closed) throw new Error('redis ledger: closed');
    if (!this.manager.connected) throw new Error(`redis ledger: shared store ${this.manager.displayUrl} is unreachable`);
  }

  async range(from: number, to: number): Promise<LedgerBucket[]> {
    this.requireConnected();
    if (this.pendingKeys.size > 0) await this.flush();
    const starts = await this.starts(from, to);
    if (starts.length === 0) return [];
    const pipe = this.manager.client.pipeline();
    for (const s of starts) pipe.hgetall(this.bucketKey(s));
    const res = (await pipe.exec()) ?? [];
    const out: LedgerBucket[] = [];
    res.forEach(([err, raw], i) => {
      if (err) throw err;
      const byRow = new Map<string, LedgerBucket>();
      for (const [f, v] of Object.entries((raw ?? {}) as Record<string, string>)) {
        const p = parseField(f);
        if (!p) continue;
        const k = `${p.provider}|${p.model}`;
        let b = byRow.get(k);
        if (!b) {
          b = { start: starts[i], provider: p.provider, model: p.model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, quota: 0, usd: 0 };
          byRow.set(k, b);
        }
        b[p.metric] = Number(v) || 0;
      }
      out.push(...byRow.values());
    });
    return out;
  }

  private async starts(from: number, to: number): Promise<number[]> {
    const lo = Number.isFinite(from) ? String(from) : '-inf';
    const hi = Number.isFinite(to) ? `(${to}` : '+inf';
    const members = await this.manager.client.zrangebyscore(this.indexKey(), lo, hi);
    return members.map(Number).filter((n) => Number.isFinite(n));
  }

  async clear(from: number, to: number, model?: string): Promise<void> {
    this.requireConnected();
    if (this.pendingKeys.size > 0) await this.flush();
    const starts = await this.starts(from, to);
    if (starts.length === 0) return;
    const client = this.manager.client;
    if (!model) {
      const multi = client.multi();
      for (const s of starts) multi.del(this.bucketKey(s));
      multi.zrem(this.indexKey(), ...starts.map(String));
      await multi.exec();
      return;
    }
    const m = model.toLowerCase();
    const pipe = client.pipeline();
    for (const s of starts) pipe.hkeys(this.bucketKey(s));
    const res = (await pipe.exec()) ?? [];
    const multi = client.multi();
    res.forEach(([err, keys], i) => {
      if (err) throw err;
      const drop = ((keys ?? []) as string[]).filter((f) => parseField(f)?.model.toLowerCase() === m);
      if (drop.length) multi.hdel(this.bucketKey(starts[i]), ...drop);
    });
    await multi.exec();
  }

  /** Stops listening and releases the connection when this store opened it. Unwritten usage stays in memory. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.manager.connected && this.pendingKeys.size > 0) await this.flush().catch(() => undefined);
    this.closed = true;
    this.manager.off('state', this.onState);
    if (this.owns) await releaseRedis(this.manager);
  }
}
