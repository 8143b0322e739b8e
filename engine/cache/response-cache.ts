/**
 * An in-memory response cache for chat requests: LRU eviction, TTL expiry, bounded by
 * entry count and by bytes.
 *
 * Keys: sha256 over a canonical JSON of the request (object keys sorted at every level,
 * so key order does not matter) minus the fields that do not change the answer
 * (EXCLUDED_KEY_FIELDS: stream, stream_options, user, metadata and similar), plus an
 * optional scope (for example a provider account id).
 *
 * What is cacheable (cacheable()):
 * - only requests that ask for greedy decoding: `temperature` explicitly 0, or `top_k` 1.
 *   An unset temperature means the provider's default, which samples (1 on OpenAI), so it
 *   is NOT cacheable; `top_p` alone does not make a request deterministic and `seed` is only
 *   best effort, so neither makes a sampled request cacheable. `force: true` caches any
 *   non-streaming request anyway.
 * - `stream: true` is cacheable only when the caller says it can replay a stored answer as
 *   a stream (`streamReplay: true`), whatever `force` says.
 *
 * Values are stored as given and returned by reference: store values you will not mutate
 * (or copies).
 */
import { createHash } from 'node:crypto';

/** Top-level request fields left out of the key: transport, attribution and bookkeeping. */
export const EXCLUDED_KEY_FIELDS: readonly string[] = Object.freeze([
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
  'safety_identifier',
  'prompt_cache_key',
  'prompt_cache_retention',
  'service_tier',
  'request_id',
]);

export interface ResponseCacheOptions {
  /** time to live of each entry, ms (> 0) */
  ttlMs: number;
  /** most entries kept (>= 1) */
  maxEntries: number;
  /** most bytes kept (sum of entry sizes); unbounded when omitted */
  maxBytes?: number;
  /** clock, epoch ms */
  now?: () => number;
}

export interface CacheableOptions {
  /** cache even when the request samples (temperature > 0 or unset) */
  force?: boolean;
  /** the caller can replay a cached answer as a stream, so stream:true requests may be cached */
  streamReplay?: boolean;
}

export interface ResponseCacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
  /** entries dropped to stay within maxEntries / maxBytes */
  evictions: number;
  /** entries dropped because their TTL ran out */
  expirations: number;
}

interface Entry<T> {
  value: T;
  size: number;
  expiresAt: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Canonical JSON: object keys sorted, undefined and functions dropped (as JSON.stringify does). */
function canonical(value: unknown, seen: Set<object>, depth: number): string {
  if (depth > 200) throw new TypeError('request is nested too deeply to build a cache key');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object':
      break;
    default:
      return 'null';
  }
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError('request contains a circular reference; cannot build a cache key');
  seen.add(obj);
  try {
    const withJson = obj as { toJSON?: () => unknown };
    if (typeof withJson.toJSON === 'function') return canonical(withJson.toJSON(), seen, depth + 1);
    if (Array.isArray(obj)) {
      return `[${obj.map((v) => (v === undefined || typeof v === 'function' ? 'null' : canonical(v, seen, depth + 1))).join(',')}]`;
    }
    const rec = obj as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(rec).sort()) {
      const v = rec[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      parts.push(`${JSON.stringify(k)}:${canonical(v, seen, depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

/** Approximate size of a value in bytes: the UTF-8 length of its JSON (1 KiB when it has none). */
export function approximateSize(value: unknown): number {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
  } catch {
    return 1024;
  }
}

export class ResponseCache<T = unknown> {
  private readonly map = new Map<string, Entry<T>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private totalBytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private expirations = 0;

  constructor(opts: ResponseCacheOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('ResponseCache needs options {ttlMs, maxEntries}');
    if (typeof opts.ttlMs !== 'number' || !(opts.ttlMs > 0)) throw new RangeError(`ttlMs must be a number > 0, got ${String(opts.ttlMs)}`);
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1) throw new RangeError(`maxEntries must be a whole number >= 1, got ${String(opts.maxEntries)}`);
    if (opts.maxBytes !== undefined && (typeof opts.maxBytes !== 'number' || !(opts.maxBytes > 0)))
      throw new RangeError(`maxBytes must be a number > 0, got ${String(opts.maxBytes)}`);
    this.ttlMs = opts.ttlMs;
    this.maxEntries = opts.maxEntries;
    this.maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Stable key of a request: sha256 (hex) over the scope and the canonical request without
   * EXCLUDED_KEY_FIELDS. Same model, messages and parameters give the same key whatever the
   * key order; any other difference (model, a message, temperature, tools, max_tokens ...)
   * gives another key. Throws TypeError for a circular request.
   */
  key(request: object, scope?: string): string {
    let body: unknown = request;
    if (isRecord(request)) {
      const copy: Record<string, unknown> = {};
      for (const k of Object.keys(request)) if (!EXCLUDED_KEY_FIELDS.includes(k)) copy[k] = request[k];
      body = copy;
    }
    const text = canonical(body, new Set(), 0);
    return createHash('sha256')
      .update(scope ?? '')
      .update('\u0000')
      .update(text)
      .digest('hex');
  }

  /** Whether an answer to this request may be cached (see the module comment). */
  cacheable(request: unknown, opts: CacheableOptions = {}): boolean {
    if (!isRecord(request)) return false;
    if (request.stream === true && !opts.streamReplay) return false;
    if (opts.force) return true;
    if (request.temperature === 0) return true;
    if (request.top_k === 1) return true;
    return false;
  }

  /** The value stored under key, when present and not expired (a hit refreshes its LRU position). */
  get(key: string): T | undefined {
    const e = this.map.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    if (this.now() >= e.expiresAt) {
      this.remove(key, e);
      this.expirations++;
      this.misses++;
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    this.hits++;
    return e.value;
  }

  /**
   * Stores value under key for ttlMs. sizeBytes defaults to the UTF-8 length of its JSON.
   * A value larger than maxBytes is not stored (and any older value under key is dropped).
   * Least recently used entries are evicted until both bounds hold.
   */
  set(key: string, value: T, sizeBytes?: number): void {
    const size = sizeBytes !== undefined && Number.isFinite(sizeBytes) && sizeBytes >= 0 ? sizeBytes : approximateSize(value);
    const old = this.map.get(key);
    if (old) this.remove(key, old);
    if (size > this.maxBytes) return;
    this.map.set(key, { value, size, expiresAt: this.now() + this.ttlMs });
    this.totalBytes += size;
    if (this.map.size > this.maxEntries || this.totalBytes > this.maxBytes) {
      this.pruneExpired();
      while (this.map.size > this.maxEntries || this.totalBytes > this.maxBytes) {
        const oldestKey = this.map.keys().next().value as string;
        this.remove(oldestKey, this.map.get(oldestKey)!);
        this.evictions++;
      }
    }
  }

  /** Removes one entry; true when it was there. */
  delete(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    this.remove(key, e);
    return true;
  }

  /** Drops expired entries now; returns how many. */
  pruneExpired(): number {
    const t = this.now();
    let n = 0;
    for (const [k, e] of this.map) {
      if (t >= e.expiresAt) {
        this.remove(k, e);
        this.expirations++;
        n++;
      }
    }
    return n;
  }

  stats(): ResponseCacheStats {
    this.pruneExpired();
    return {
      hits: this.hits,
      misses: this.misses,
      entries: this.map.size,
      bytes: this.totalBytes,
      evictions: this.evictions,
      expirations: this.expirations,
    };
  }

  /** Empties the cache (counters are kept). */
  clear(): void {
    this.map.clear();
    this.totalBytes = 0;
  }

  private remove(key: string, e: Entry<T>): void {
    this.map.delete(key);
    this.totalBytes -= e.size;
  }
}
