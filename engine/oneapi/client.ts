/**
 * Admin client for One API (songquanpeng/one-api 0.6.x) and new-api (2025 and 2026 lines).
 *
 * Wire-format rules followed here (see the admin API reference):
 * - always `Authorization: Bearer <token>`; `New-Api-User: <id>` as well when the target is new-api;
 * - always the trailing slash on `/api/channel/`;
 * - `success:false` at HTTP 200 is an error, mapped to a code by its message;
 * - channel list paging: `p=0&page_size=100`, array pages until `[]`, or `{items,total}` pages until total;
 * - partial PUT bodies only (`{id, priority}`), and never `status` in a PUT to a server that has
 *   `POST /api/channel/:id/status`;
 * - the PUT response may echo the real channel key: it is parsed for `success` and then dropped.
 *
 * Every error is a fresh OneApiError with a redacted message: no axios config, headers or bodies.
 */
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { redactText } from '../secrets/redact';
import type {
  Channel,
  Flavour,
  OneApiClientOptions,
  OneApiErrorCode,
  ServerStatus,
  WriteResult,
} from './types';

export const DEFAULT_QUOTA_PER_UNIT = 500000;
export const DEFAULT_TIMEOUT_MS = 15000;
/** Upper bound on pages read by one listing call (channels or logs). */
export const DEFAULT_MAX_PAGES = 2000;

export class OneApiError extends Error {
  code: OneApiErrorCode;
  status?: number;

  constructor(message: string, code: OneApiErrorCode, status?: number) {
    super(message);
    this.name = 'OneApiError';
    this.code = code;
    if (status !== undefined) this.status = status;
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Converts gateway quota units to USD (`quotaPerUnit` units = 1 USD, default 500000). */
export function quotaToUsd(quota: number, quotaPerUnit: number = DEFAULT_QUOTA_PER_UNIT): number {
  const per = Number.isFinite(quotaPerUnit) && quotaPerUnit > 0 ? quotaPerUnit : DEFAULT_QUOTA_PER_UNIT;
  return (Number.isFinite(quota) ? quota : 0) / per;
}

/**
 * One consume log, renamed from either product's Log JSON. The values are passed on as the
 * server sent them (not validated or coerced): the usage normaliser checks them and counts the
 * malformed ones, so a bad row is reported as skipped and never becomes zeros.
 */
export interface ConsumeLog {
  /** model_name */
  model: unknown;
  /** created_at, Unix seconds */
  createdAt: unknown;
  promptTokens: unknown;
  completionTokens: unknown;
  quota: unknown;
  channelId?: unknown;
  /** set when the entry cannot be a consume log at all (e.g. an unreadable `type`) */
  malformed?: string;
}

interface Envelope {
  success?: unknown;
  message?: unknown;
  code?: unknown;
  data?: unknown;
  error?: unknown;
}

interface RequestSpec {
  method: 'GET' | 'PUT' | 'POST';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** public endpoint: no auth headers */
  anonymous?: boolean;
  /** return the envelope even for success:false (the caller inspects it) */
  raw?: boolean;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ERR_SOCKET_CLOSED']);
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);
/** Keys in /api/status that only new-api reports. */
const NEW_API_STATUS_KEYS = ['quota_display_type', 'usd_exchange_rate', 'enable_data_export', 'self_use_mode_enabled', 'demo_site_enabled', 'setup'];

function num(v: unknown, fallback = 0): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return fallback;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Maps a `success:false` message (or an auth `code`) to an error code. */
export function classifyMessage(message: string, code?: unknown): OneApiErrorCode {
  const c = typeof code === 'string' ? code : '';
  if (/^AUTH_INSUFFICIENT|FORBIDDEN|PERMISSION/i.test(c)) return 'FORBIDDEN';
  if (/^AUTH_/i.test(c)) return 'UNAUTHORIZED';
  if (/权限不足|insufficient privilege|permission denied|no permission/i.test(message)) return 'FORBIDDEN';
  if (/access token 无效|未登录|未提供 access token|invalid access token|unauthori[sz]ed|New-Api-User|用户已被封禁/i.test(message)) return 'UNAUTHORIZED';
  if (/record not found/i.test(message)) return 'NOT_FOUND';
  return 'API_ERROR';
}

/** Normalises one channel object from any supported version. Never copies `key`. */
export function normaliseChannel(raw: unknown): Channel {
  if (!isObject(raw)) throw new OneApiError('channel entry is not an object', 'BAD_RESPONSE');
  const id = num(raw.id, NaN);
  if (!Number.isInteger(id)) throw new OneApiError('channel entry has no numeric id', 'BAD_RESPONSE');
  const models =
    typeof raw.models === 'string'
      ? raw.models
          .split(',')
          .map((m) => m.trim())
          .filter((m) => m.length > 0)
      : Array.isArray(raw.models)
        ? raw.models.map((m) => String(m).trim()).filter((m) => m.length > 0)
        : [];
  const ch: Channel = {
    id,
    name: typeof raw.name === 'string' ? raw.name : String(raw.name ?? ''),
    models,
    priority: num(raw.priority, 0),
    weight: num(raw.weight, 0),
    status: num(raw.status, 0),
  };
  if (typeof raw.group === 'string') ch.group = raw.group;
  if (typeof raw.tag === 'string' || raw.tag === null) ch.tag = raw.tag as string | null;
  if (raw.response_time !== undefined) ch.responseTimeMs = num(raw.response_time);
  if (raw.test_time !== undefined) ch.testTime = num(raw.test_time);
  if (raw.balance !== undefined) ch.balance = num(raw.balance);
  if (raw.used_quota !== undefined) ch.usedQuota = num(raw.used_quota);
  return ch;
}

function describe(spec: RequestSpec): string {
  return `${spec.method} ${spec.path}`;
}

export class OneApiClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly userId: string | undefined;
  private readonly timeoutMs: number;
  private readonly http: AxiosInstance;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly inFlight = new Set<AbortController>();
  private closed = false;
  private detected: Promise<Flavour> | null = null;
  /** null = unknown, true = POST /api/channel/:id/status exists, false = answered 404 */
  private statusEndpoint: boolean | null = null;

  constructor(private readonly opts: OneApiClientOptions) {
    if (!opts || typeof opts !== 'object') throw new OneApiError('One API client options are missing', 'BAD_CONFIG');
    const base = typeof opts.baseUrl === 'string' ? opts.baseUrl.trim() : '';
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw new OneApiError('One API base URL is not a valid URL', 'BAD_CONFIG');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OneApiError('One API base URL must start with http:// or https://', 'BAD_CONFIG');
    }
    if (url.username || url.password) throw new OneApiError('One API base URL must not contain credentials', 'BAD_CONFIG');
    this.baseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    const token = typeof opts.accessToken === 'string' ? opts.accessToken.trim() : '';
    if (!token) throw new OneApiError('One API access token is missing', 'BAD_CONFIG');
    if (/[\r\n]/.test(token)) throw new OneApiError('One API access token contains a line break', 'BAD_CONFIG');
    this.token = token.replace(/^Bearer\s+/i, '');
    const flavour = opts.flavour ?? 'detect';
    if (flavour !== 'one-api' && flavour !== 'new-api' && flavour !== 'detect') {
      throw new OneApiError('One API flavour must be one-api, new-api or detect', 'BAD_CONFIG');
    }
    const uid = opts.userId === undefined || opts.userId === null ? '' : String(opts.userId).trim();
    if (uid && !/^\d+$/.test(uid)) throw new OneApiError('new-api user id must be a number', 'BAD_CONFIG');
    this.userId = uid || undefined;
    const t = opts.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : Number(opts.timeoutMs);
    if (!Number.isFinite(t) || t <= 0) throw new OneApiError('One API timeout must be a positive number of milliseconds', 'BAD_CONFIG');
    this.timeoutMs = t;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });
    this.http = axios.create({
      baseURL: this.baseUrl,
      timeout: this.timeoutMs,
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      proxy: false,
      maxRedirects: 0,
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      validateStatus: () => true,
      maxContentLength: 64 * 1024 * 1024,
    });
  }

  /** Whether writes are skipped (dry run). */
  get dryRun(): boolean {
    return !!this.opts.dryRun;
  }

  /** The configured base URL without a trailing slash (never holds credentials). */
  get url(): string {
    return this.baseUrl;
  }

  /** The server product; 'detect' is resolved once and cached. */
  flavour(): Promise<Flavour> {
    if (this.opts.flavour === 'one-api' || this.opts.flavour === 'new-api') return Promise.resolve(this.opts.flavour);
    if (!this.detected) {
      this.detected = this.detect();
      this.detected.catch(() => {
        this.detected = null; // try again next time
      });
    }
    return this.detected;
  }

  /** Public GET /api/status: quota per unit and version. */
  async status(): Promise<ServerStatus> {
    const data = await this.rawStatus();
    const flavour = await this.flavour();
    return {
      flavour,
      version: typeof data.version === 'string' ? data.version : '',
      quotaPerUnit: num(data.quota_per_unit, 0) > 0 ? num(data.quota_per_unit) : DEFAULT_QUOTA_PER_UNIT,
    };
  }

  /** Every channel, whatever the paging format of the server. */
  async listChannels(): Promise<Channel[]> {
    const seen = new Map<number, Channel>();
    const add = (items: unknown[]): void => {
      for (const it of items) {
        const ch = normaliseChannel(it);
        if (!seen.has(ch.id)) seen.set(ch.id, ch);
      }
    };
    // id_sort=true: new-api pages by priority by default, so a priority written while we page
    // could move a channel across a page boundary; by id the order is stable (one-api ignores it).
    const first = await this.call({ method: 'GET', path: '/api/channel/', query: { p: 0, page_size: 100, id_sort: 'true' } });
    if (Array.isArray(first)) {
      // one-api (fixed 10 per page) or new-api before 2025-06 (0-based, page_size honoured)
      if (first.length === 0) return [];
      add(first);
      for (let p = 1; ; p++) {
        if (p >= DEFAULT_MAX_PAGES) throw new OneApiError(`channel list did not end after ${DEFAULT_MAX_PAGES} pages`, 'BAD_RESPONSE');
        const page = await this.call({ method: 'GET', path: '/api/channel/', query: { p, page_size: 100, id_sort: 'true' } });
        if (!Array.isArray(page)) throw new OneApiError('channel list page changed format', 'BAD_RESPONSE');
        if (page.length === 0) break;
        add(page);
      }
      return [...seen.values()];
    }
    if (isObject(first) && Array.isArray(first.items)) {
      const total = num(first.total, first.items.length);
      let count = first.items.length;
      add(first.items);
      for (let p = 2; count < total; p++) {
        if (p >= DEFAULT_MAX_PAGES) throw new OneApiError(`channel list did not end after ${DEFAULT_MAX_PAGES} pages`, 'BAD_RESPONSE');
        const page = await this.call({ method: 'GET', path: '/api/channel/', query: { p, page_size: 100, id_sort: 'true' } });
        if (!isObject(page) || !Array.isArray(page.items)) throw new OneApiError('channel list page changed format', 'BAD_RESPONSE');
        if (page.items.length === 0) break;
        count += page.items.length;
        add(page.items);
      }
      return [...seen.values()];
    }
    if (first === null || first === undefined) return [];
    throw new OneApiError('channel list has an unexpected shape', 'BAD_RESPONSE');
  }

  async getChannel(id: number): Promise<Channel> {
    assertId(id);
    const data = await this.call({ method: 'GET', path: `/api/channel/${id}` });
    return normaliseChannel(data);
  }

  /**
   * Partial update of priority and/or weight: PUT /api/channel/ {id, priority?, weight?}.
   * Returns one WriteResult per field. `verify` reads the channel back afterwards.
   */
  async updateChannel(
    id: number,
    patch: { priority?: number; weight?: number },
    opts: { verify?: boolean; old?: number | null } = {},
  ): Promise<WriteResult[]> {
    assertId(id);
    const body: Record<string, number> = { id };
    const fields: Array<'priority' | 'weight'> = [];
    for (const field of ['priority', 'weight'] as const) {
      const v = patch?.[field];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new OneApiError(`${field} must be an integer`, 'BAD_CONFIG');
      if (field === 'weight' && v < 0) throw new OneApiError('weight must not be negative', 'BAD_CONFIG');
      body[field] = v;
      fields.push(field);
    }
    if (fields.length === 0) throw new OneApiError('nothing to update: give priority or weight', 'BAD_CONFIG');
    const old = opts.old === undefined ? null : opts.old;
    const results: WriteResult[] = fields.map((field) => ({
      id,
      field,
      old: field === 'priority' || fields.length === 1 ? old : null,
      value: body[field],
      dryRun: this.dryRun,
    }));
    if (this.dryRun) {
      this.logDryRun(`PUT /api/channel/ ${JSON.stringify(body)}${old !== null ? ` (was ${old})` : ''}`);
      return results;
    }
    await this.call({ method: 'PUT', path: '/api/channel/', body });
    if (opts.verify) {
      const after = await this.getChannel(id);
      for (const r of results) r.verified = after[r.field] === r.value;
    }
    return results;
  }

  /**
   * Enables (status 1) or manually disables (status 2) a channel: POST /api/channel/:id/status on
   * new-api >= 2026-06-27; on HTTP 404 (older servers) or one-api, PUT {id, status}.
   */
  async setChannelEnabled(id: number, enabled: boolean, opts: { verify?: boolean; old?: number | null } = {}): Promise<WriteResult> {
    assertId(id);
    if (typeof enabled !== 'boolean') throw new OneApiError('enabled must be true or false', 'BAD_CONFIG');
    const status = enabled ? 1 : 2;
    const result: WriteResult = { id, field: 'status', old: opts.old === undefined ? null : opts.old, value: status, dryRun: this.dryRun };
    const flavour = await this.flavour();
    if (this.dryRun) {
      const how =
        flavour === 'one-api' || this.statusEndpoint === false
          ? `PUT /api/channel/ ${JSON.stringify({ id, status })}`
          : `POST /api/channel/${id}/status ${JSON.stringify({ status })}`;
      this.logDryRun(`${how}${result.old !== null ? ` (was ${result.old})` : ''}`);
      return result;
    }
    let done = false;
    if (flavour === 'new-api' && this.statusEndpoint !== false) {
      try {
        await this.call({ method: 'POST', path: `/api/channel/${id}/status`, body: { status } });
        this.statusEndpoint = true;
        done = true;
      } catch (err) {
        if (err instanceof OneApiError && err.code === 'NOT_FOUND' && err.status === 404) {
          this.statusEndpoint = false;
        } else {
          throw err;
        }
      }
    }
    if (!done) await this.call({ method: 'PUT', path: '/api/channel/', body: { id, status } });
    if (opts.verify) {
      const after = await this.getChannel(id);
      result.verified = after.status === status;
    }
    return result;
  }

  /**
   * one-api GET /api/user/dashboard: the caller's usage for the last 7 UTC days. The rows
   * (normally OneApiDashboardRow) are returned as the server sent them, malformed ones included:
   * the usage normaliser validates and counts them.
   */
  async userDashboard(): Promise<unknown[]> {
    const data = await this.call({ method: 'GET', path: '/api/user/dashboard' });
    if (data === null || data === undefined) return [];
    if (!Array.isArray(data)) throw new OneApiError('dashboard data is not a list', 'BAD_RESPONSE');
    return data;
  }

  /** GET /api/log/stat?type=2: the quota of all consume logs in [start, end] (Unix seconds); NaN when unreadable. */
  async logStat(q: { start: number; end: number; modelName?: string }): Promise<{ quota: number }> {
    assertRange(q?.start, q?.end);
    const data = await this.call({
      method: 'GET',
      path: '/api/log/stat',
      query: { type: 2, start_timestamp: Math.floor(q.start), end_timestamp: Math.floor(q.end), model_name: q.modelName || undefined },
    });
    if (!isObject(data)) throw new OneApiError('log stat data is not an object', 'BAD_RESPONSE');
    // NaN (not 0) when the server's quota is not a number: the normaliser counts it as skipped.
    return { quota: num(data.quota, NaN) };
  }

  /**
   * Every consume log (type 2) in [start, end] (Unix seconds). one-api: 0-based `p`, 10 per page,
   * until `[]`; new-api: 1-based `p`, page_size 100, `{items,total}`. Stops with an error after
   * `maxPages` pages.
   */
  async consumeLogs(q: { start: number; end: number; maxPages?: number }): Promise<ConsumeLog[]> {
    assertRange(q?.start, q?.end);
    const maxPages = q.maxPages && q.maxPages > 0 ? Math.floor(q.maxPages) : DEFAULT_MAX_PAGES;
    const flavour = await this.flavour();
    const out: ConsumeLog[] = [];
    const seenIds = new Set<number>();
    const push = (items: unknown[]): void => {
      for (const it of items) {
        // Not an object: passed on as it is, so the normaliser counts it as skipped.
        if (!isObject(it)) {
          out.push(it as ConsumeLog);
          continue;
        }
        const type = it.type === undefined || it.type === null ? 2 : num(it.type, NaN);
        if (!Number.isNaN(type) && type !== 2) continue; // topup, manage, system...: not usage
        const logId = num(it.id, NaN);
        if (Number.isInteger(logId)) {
          if (seenIds.has(logId)) continue;
          seenIds.add(logId);
        }
        const log: ConsumeLog = {
          model: it.model_name,
          createdAt: it.created_at,
          promptTokens: it.prompt_tokens,
          completionTokens: it.completion_tokens,
          quota: it.quota,
        };
        if (Number.isNaN(type)) log.malformed = 'unreadable log type';
        if (it.channel !== undefined && it.channel !== null) log.channelId = it.channel;
        else if (it.channel_id !== undefined && it.channel_id !== null) log.channelId = it.channel_id;
        out.push(log);
      }
    };
    const base = { type: 2, start_timestamp: Math.floor(q.start), end_timestamp: Math.floor(q.end) };
    let p = flavour === 'one-api' ? 0 : 1;
    let count = 0;
    for (let pages = 0; ; pages++, p++) {
      if (pages >= maxPages) throw new OneApiError(`consume logs did not end after ${maxPages} pages; narrow the time range`, 'API_ERROR');
      const data = await this.call({
        method: 'GET',
        path: '/api/log/',
        query: flavour === 'one-api' ? { ...base, p } : { ...base, p, page_size: 100 },
      });
      if (Array.isArray(data)) {
        if (data.length === 0) break;
        push(data);
        continue;
      }
      if (isObject(data) && Array.isArray(data.items)) {
        if (data.items.length === 0) break;
        push(data.items);
        count += data.items.length;
        if (count >= num(data.total, Infinity)) break;
        continue;
      }
      if (data === null || data === undefined) break;
      throw new OneApiError('log page has an unexpected shape', 'BAD_RESPONSE');
    }
    return out;
  }

  /**
   * new-api GET /api/data/ (all users) or /api/data/self: hourly quota rows (normally QuotaDataRow),
   * returned as the server sent them, malformed ones included: the usage normaliser validates and
   * counts them.
   */
  async quotaData(startSec: number, endSec: number, opts: { self?: boolean } = {}): Promise<unknown[]> {
    assertRange(startSec, endSec);
    const data = await this.call({
      method: 'GET',
      path: opts.self ? '/api/data/self' : '/api/data/',
      query: { start_timestamp: Math.floor(startSec), end_timestamp: Math.floor(endSec) },
    });
    if (data === null || data === undefined) return [];
    if (!Array.isArray(data)) throw new OneApiError('quota data is not a list', 'BAD_RESPONSE');
    return data;
  }

  /** Aborts in-flight requests and releases keep-alive sockets. Later calls fail. */
  close(): void {
    this.closed = true;
    for (const c of this.inFlight) c.abort();
    this.inFlight.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  // ---------------------------------------------------------------------------------------------

  private logDryRun(line: string): void {
    const text = `dry run, not sent: ${line}`;
    try {
      this.opts.onDryRun?.(redactText(text, [this.token]));
    } catch {
      /* a failing logger must not fail the write */
    }
  }

  private async rawStatus(): Promise<Record<string, unknown>> {
    const data = await this.call({ method: 'GET', path: '/api/status', anonymous: true });
    if (!isObject(data)) throw new OneApiError('/api/status data is not an object', 'BAD_RESPONSE');
    return data;
  }

  private async detect(): Promise<Flavour> {
    const data = await this.rawStatus();
    if (NEW_API_STATUS_KEYS.some((k) => k in data)) return 'new-api';
    // Ambiguous status: ask /api/user/dashboard, which only one-api has.
    const env = (await this.call({ method: 'GET', path: '/api/user/dashboard', raw: true, anonymous: false }, 'one-api')) as Envelope & {
      httpStatus: number;
    };
    if (env.success === true && (Array.isArray(env.data) || env.data === null)) return 'one-api';
    const msg = typeof env.message === 'string' ? env.message : '';
    if (/strconv|New-Api-User/i.test(msg) || typeof env.code === 'string') return 'new-api';
    const code = classifyMessage(msg, env.code);
    if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN') {
      throw new OneApiError(`cannot detect the server flavour: ${redactText(msg, [this.token]).slice(0, 200)}`, code, env.httpStatus);
    }
    return 'one-api';
  }

  /**
   * One request. Returns `data` of a success envelope; throws OneApiError otherwise.
   * With `raw`, returns the envelope (plus httpStatus) for 2xx/401/403 answers instead of throwing.
   */
  private async call(spec: RequestSpec, flavourHint?: Flavour): Promise<unknown> {
    if (this.closed) throw new OneApiError(`${describe(spec)}: client closed`, 'UNREACHABLE');
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (!spec.anonymous) {
      headers.Authorization = `Bearer ${this.token}`;
      const flavour = flavourHint ?? (await this.flavour());
      if (flavour === 'new-api' && this.userId) headers['New-Api-User'] = this.userId;
    }
    if (spec.body !== undefined) headers['Content-Type'] = 'application/json';
    const params: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) params[k] = v;

    // A GET on a reused keep-alive socket that the server had just closed fails with a reset:
    // such a read is retried once on a fresh connection. Writes are never retried.
    const attempts = spec.method === 'GET' ? 2 : 1;
    for (let attempt = 1; ; attempt++) {
      const ctrl = new AbortController();
      this.inFlight.add(ctrl);
      let res: AxiosResponse<string>;
      try {
        res = await this.http.request<string>({
          method: spec.method,
          url: spec.path,
          params,
          headers,
          data: spec.body === undefined ? undefined : JSON.stringify(spec.body),
          signal: ctrl.signal,
        });
      } catch (err) {
        const safe = this.transportError(err, spec, ctrl.signal.aborted);
        if (attempt < attempts && !this.closed && safe.code === 'UNREACHABLE' && /connection reset|ECONNRESET/.test(safe.message)) continue;
        throw safe;
      } finally {
        this.inFlight.delete(ctrl);
      }
      return this.interpret(res, spec);
    }
  }

  private transportError(err: unknown, spec: RequestSpec, aborted: boolean): OneApiError {
    const e = (err && typeof err === 'object' ? err : {}) as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
    const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : '';
    const where = `${describe(spec)} on ${this.baseUrl}`;
    if (aborted || code === 'ERR_CANCELED') return new OneApiError(`${where}: request aborted (client closed)`, 'UNREACHABLE');
    if (TIMEOUT_CODES.has(code)) return new OneApiError(`${where}: no answer within ${this.timeoutMs} ms`, 'TIMEOUT');
    if (NETWORK_CODES.has(code)) return new OneApiError(`${where}: server unreachable (${code})`, 'UNREACHABLE');
    const msg = typeof e.message === 'string' ? e.message : 'request failed';
    if (/socket hang up|ECONNRESET/i.test(msg)) return new OneApiError(`${where}: server unreachable (connection reset)`, 'UNREACHABLE');
    if (/timeout/i.test(msg)) return new OneApiError(`${where}: no answer within ${this.timeoutMs} ms`, 'TIMEOUT');
    return new OneApiError(`${where}: ${redactText(msg, [this.token]).slice(0, 200)}`, 'UNREACHABLE');
  }

  private interpret(res: AxiosResponse<string>, spec: RequestSpec): unknown {
    const where = describe(spec);
    const status = res.status;
    const text = typeof res.data === 'string' ? res.data : '';
    if (status === 429) return this.fail(`${where}: rate limited by the server (HTTP 429)`, 'RATE_LIMITED', status);
    let body: unknown;
    let parsed = false;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
        parsed = true;
      } catch {
        parsed = false;
      }
    }
    const env: Envelope = isObject(body) ? body : {};
    const serverMsg = typeof env.message === 'string' ? env.message : isObject(env.error) && typeof env.error.message === 'string' ? env.error.message : '';
    const safeMsg = redactText(serverMsg, [this.token]).slice(0, 200);
    const suffix = safeMsg ? `: ${safeMsg}` : '';
    if (spec.raw && parsed && isObject(body) && (status < 300 || status === 401 || status === 403)) {
      return { ...env, httpStatus: status };
    }
    if (status === 401) return this.fail(`${where}: unauthorized (HTTP 401)${suffix}`, 'UNAUTHORIZED', status);
    if (status === 403) return this.fail(`${where}: forbidden (HTTP 403)${suffix}`, 'FORBIDDEN', status);
    if (status === 404) return this.fail(`${where}: not found (HTTP 404)`, 'NOT_FOUND', status);
    if (status >= 300 && status < 400) return this.fail(`${where}: unexpected redirect (HTTP ${status}); check the base URL`, 'BAD_RESPONSE', status);
    if (status >= 400) {
      if (!parsed) return this.fail(`${where}: HTTP ${status}`, status >= 500 ? 'API_ERROR' : 'BAD_RESPONSE', status);
      return this.fail(`${where}: HTTP ${status}${suffix}`, env.success === false ? classifyMessage(serverMsg, env.code) : 'API_ERROR', status);
    }
    if (!parsed || !isObject(body)) return this.fail(`${where}: the answer is not JSON; check the base URL`, 'BAD_RESPONSE', status);
    if (env.success === false) return this.fail(`${where} failed${suffix}`, classifyMessage(serverMsg, env.code), status);
    if (env.success !== true) return this.fail(`${where}: the answer has no success flag; check the base URL`, 'BAD_RESPONSE', status);
    return env.data;
  }

  private fail(message: string, code: OneApiErrorCode, status?: number): never {
    throw new OneApiError(redactText(message, [this.token]), code, status);
  }
}

function assertId(id: number): void {
  if (typeof id !== 'number' || !Number.isInteger(id) || id <= 0) throw new OneApiError('channel id must be a positive integer', 'BAD_CONFIG');
}

function assertRange(start: unknown, end: unknown): void {
  if (typeof start !== 'number' || typeof end !== 'number' || !Number.isFinite(start) || !Number.isFinite(end)) {
    throw new OneApiError('start and end must be Unix timestamps in seconds', 'BAD_CONFIG');
  }
  if (end < start) throw new OneApiError('end is before start', 'BAD_CONFIG');
}
