/**
 * The response cache wired into a FallbackExecutor through its hooks:
 * `lookup` answers a repeated request from the cache (no upstream call, no
 * limiter unit, no ledger entry) and `onSuccess` stores fresh answers.
 *
 * Key: the request body WITHOUT `model` (the executor sets it per candidate),
 * scoped by the route's first candidate as "account name/model". So the same
 * messages and parameters sent to the same first choice hit the cache, whichever
 * candidate finally answered; a different first choice (another tier) or any
 * other parameter (temperature, max_tokens, tools ...) misses. Transport and
 * attribution fields (stream, user, metadata ...) are not part of the key.
 *
 * Only requests ResponseCache.cacheable() accepts are cached: temperature 0 (or
 * top_k 1) unless `force`; streamed requests never (a stream is not replayed).
 * Stored values are copies and every hit gets its own copy, so a flow that
 * changes msg.response cannot change the cache.
 */
import type { ExecRequest, ExecSuccess, ExecutorHooks, Usage } from '../fallback/executor';
import { ResponseCache, type ResponseCacheStats } from './response-cache';

export interface CachedAnswer<R> {
  response: R;
  text: string;
  provider: string;
  providerId: string;
  model: string;
  upstreamModel: string;
  usage: Usage | null;
}

export interface ExecutorCacheOptions {
  /** ms an answer stays valid (> 0) */
  ttlMs: number;
  /** answers kept at most (>= 1) */
  maxEntries: number;
  /** bytes kept at most (default 64 MiB) */
  maxBytes?: number;
  /** cache sampled requests too (temperature > 0 or unset) */
  force?: boolean;
  /** account name of a route entry's provider (id or name); default: as given */
  accountName?: (provider: string) => string | undefined;
  now?: () => number;
}

const META_KEY = 'cacheKey';

function copy<T>(v: T): T {
  try {
    return structuredClone(v);
  } catch {
    return JSON.parse(JSON.stringify(v)) as T;
  }
}

export class ExecutorCache<R = unknown> {
  readonly cache: ResponseCache<CachedAnswer<R>>;
  private readonly force: boolean;
  private readonly accountName: (provider: string) => string | undefined;

  constructor(opts: ExecutorCacheOptions) {
    this.cache = new ResponseCache<CachedAnswer<R>>({
      ttlMs: opts.ttlMs,
      maxEntries: opts.maxEntries,
      maxBytes: opts.maxBytes ?? 64 * 1024 * 1024,
      ...(opts.now ? { now: opts.now } : {}),
    });
    this.force = opts.force === true;
    this.accountName = opts.accountName ?? ((p) => p);
  }

  /** The cache key of a request, or undefined when it must not be cached. `stream`: the caller asked for a stream. */
  keyOf(req: ExecRequest<R>, stream = req.meta?.stream === true): string | undefined {
    const first = Array.isArray(req.route) ? req.route[0] : undefined;
    if (!first || !req.body || typeof req.body !== 'object') return undefined;
    if (!this.cache.cacheable({ ...req.body, stream }, { force: this.force })) return undefined;
    const { model: _model, ...rest } = req.body;
    void _model;
    const scope = `${this.accountName(first.provider) ?? first.provider}/${first.model}`;
    try {
      return this.cache.key(rest, scope);
    } catch {
      return undefined;
    }
  }

  /** lookup + onSuccess hooks for the executor. */
  hooks(): Required<Pick<ExecutorHooks<R>, 'lookup' | 'onSuccess'>> {
    return {
      lookup: (req) => {
        const t0 = performance.now();
        const key = this.keyOf(req);
        if (key === undefined) return undefined;
        if (req.meta) req.meta[META_KEY] = key;
        else req.meta = { [META_KEY]: key };
        const hit = this.cache.get(key);
        if (!hit) return undefined;
        const out: ExecSuccess<R> = {
          ok: true,
          response: copy(hit.response),
          text: hit.text,
          provider: hit.provider,
          providerId: hit.providerId,
          model: hit.model,
          upstreamModel: hit.upstreamModel,
          attempts: [],
          latencyMs: Math.round((performance.now() - t0) * 100) / 100,
          queuedMs: 0,
          usage: hit.usage ? { ...hit.usage } : null,
          usd: 0,
          cached: true,
        };
        return out;
      },
      onSuccess: (outcome, req) => {
        const key = req.meta?.[META_KEY];
        if (typeof key !== 'string' || outcome.cached || outcome.finalized) return;
        this.cache.set(key, {
          response: copy(outcome.response),
          text: outcome.text,
          provider: outcome.provider,
          providerId: outcome.providerId,
          model: outcome.model,
          upstreamModel: outcome.upstreamModel,
          usage: outcome.usage ? { ...outcome.usage } : null,
        });
      },
    };
  }

  stats(): ResponseCacheStats {
    return this.cache.stats();
  }

  clear(): void {
    this.cache.clear();
  }
}
