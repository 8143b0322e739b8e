/**
 * One Redis connection per store URL, with its state tracked for the routing
 * nodes: 'connecting' until the first answer (or the connect timeout), then
 * 'connected' or 'local-fallback'; reconnects with capped exponential backoff and
 * emits 'state' on every change. Commands fail fast while Redis is away (no
 * offline queue), so callers can fall back to local state instead of hanging.
 */
import { EventEmitter } from 'node:events';
import IORedis from 'ioredis';
import { redisClientOptions, FAIL_FAST_CLIENT_OPTIONS } from './limiter-options';
import { redactText } from '../secrets/redact';

export type SharedStoreState = 'connecting' | 'connected' | 'local-fallback' | 'closed';

export interface RedisConnectionOptions {
  /** Time allowed for the first connection before falling back to local (ms, default 2000). */
  connectTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap (ms, defaults 100 and 5000). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** The store URL with any password replaced, for statuses and logs. */
export function displayRedisUrl(redisUrl: string): string {
  try {
    const u = new URL(redisUrl);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(invalid)';
  }
}

export class RedisConnectionManager extends EventEmitter {
  readonly url: string;
  readonly displayUrl: string;
  readonly client: IORedis;
  private _state: SharedStoreState = 'connecting';
  private connectTimer: NodeJS.Timeout | null = null;
  private readonly clientOptions: Record<string, unknown>;
  private readonly duplicates = new Set<IORedis>();
  private lastError = '';
  private readonly password: string | undefined;

  constructor(redisUrl: string, opts: RedisConnectionOptions = {}) {
    super();
    this.url = redisUrl;
    this.displayUrl = displayRedisUrl(redisUrl);
    const minMs = opts.retryMinMs && opts.retryMinMs > 0 ? opts.retryMinMs : 100;
    const maxMs = opts.retryMaxMs && opts.retryMaxMs > 0 ? opts.retryMaxMs : 5000;
    const connectTimeoutMs = opts.connectTimeoutMs && opts.connectTimeoutMs > 0 ? opts.connectTimeoutMs : 2000;
    const base = redisClientOptions(redisUrl);
    this.password = typeof base.password === 'string' ? base.password : undefined;
    this.clientOptions = {
      ...base,
      ...FAIL_FAST_CLIENT_OPTIONS,
      connectTimeout: connectTimeoutMs,
      // Capped exponential backoff with jitter; never gives up (null would stop).
      retryStrategy: (times: number) => {
        const base = Math.min(maxMs, minMs * 2 ** Math.min(20, Math.max(0, times - 1)));
        return Math.round(base * (0.75 + Math.random() * 0.25));
      },
    };
    this.client = new IORedis(this.clientOptions as never);
    this.client.on('ready', () => this.setState('connected'));
    this.client.on('close', () => {
      if (this._state === 'connected') this.setState('local-fallback');
    });
    this.client.on('error', (err: Error) => {
      const msg = redactText(String(err && err.message ? err.message : err), [this.password]);
      if (msg !== this.lastError) {
        this.lastError = msg;
        if (this.listenerCount('error') > 0) this.emit('error', new Error(`shared store ${this.displayUrl}: ${msg}`));
      }
    });
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this._state === 'connecting') this.setState('local-fallback');
    }, connectTimeoutMs);
    this.connectTimer.unref?.();
  }

  get state(): SharedStoreState {
    return this._state;
  }

  get connected(): boolean {
    return this._state === 'connected';
  }

  /** Resolves true once connected, false if not connected within `timeoutMs` (or closed). */
  whenConnected(timeoutMs: number): Promise<boolean> {
    if (this._state === 'connected') return Promise.resolve(true);
    if (this._state === 'closed') return Promise.resolve(false);
    return new Promise((resolve) => {
      const onState = (s: SharedStoreState) => {
        if (s === 'connected' || s === 'closed') finish(s === 'connected');
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.off('state', onState);
        resolve(ok);
      };
      this.on('state', onState);
    });
  }

  /**
   * A new client with the same server and fail-fast options (for bottleneck's
   * connection, or a subscriber). Closed with the manager unless closed before.
   */
  duplicate(overrides: Record<string, unknown> = {}): IORedis {
    const c = new IORedis({ ...this.clientOptions, ...overrides } as never);
    c.on('error', () => {
      /* state is tracked on the main client */
    });
    this.duplicates.add(c);
    c.once('end', () => this.duplicates.delete(c));
    return c;
  }

  private setState(next: SharedStoreState): void {
    if (this._state === next || this._state === 'closed') return;
    const prev = this._state;
    this._state = next;
    if (next !== 'connecting' && this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    if (next === 'connected') this.lastError = '';
    this.emit('state', next, prev);
  }

  /** Closes every client of this manager; no timers or sockets stay open. */
  async close(): Promise<void> {
    if (this._state === 'closed') return;
    this.setState('closed');
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const all = [this.client, ...this.duplicates];
    await Promise.all(all.map((c) => closeClient(c)));
    this.duplicates.clear();
  }
}

/** Disconnects an ioredis client without reconnecting and waits for 'end'. */
export function closeClient(c: IORedis): Promise<void> {
  if (c.status === 'end') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    timer.unref?.();
    c.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    c.disconnect(false);
  });
}

interface Entry {
  manager: RedisConnectionManager;
  refs: number;
}
const registry = new Map<string, Entry>();

/**
 * The process-wide manager for `redisUrl` (created on first use); every account
 * and ledger on the same store shares it. Pair each call with releaseRedis().
 */
export function acquireRedis(redisUrl: string, opts?: RedisConnectionOptions): RedisConnectionManager {
  const e = registry.get(redisUrl);
  if (e && e.manager.state !== 'closed') {
    e.refs += 1;
    return e.manager;
  }
  const manager = new RedisConnectionManager(redisUrl, opts);
  registry.set(redisUrl, { manager, refs: 1 });
  return manager;
}

/** Drops one reference; the last one closes the connection. */
export async function releaseRedis(manager: RedisConnectionManager): Promise<void> {
  const e = registry.get(manager.url);
  if (!e || e.manager !== manager) {
    await manager.close();
    return;
  }
  e.refs -= 1;
  if (e.refs <= 0) {
    registry.delete(manager.url);
    await manager.close();
  }
}
