/**
 * In-process simulator of the One API / new-api admin API (node:http, no dependencies), faithful
 * to the admin API reference for three server generations:
 *
 * - 'one-api'      songquanpeng/one-api 0.6.x: channel list 0-based, fixed 10 per page (page_size
 *                  ignored), /api/channel/search, /api/user/dashboard, /api/log/ 0-based 10 per page,
 *                  wrong token -> HTTP 200 success:false, PUT with an unknown id -> success:true.
 * - 'new-api-2025' new-api 2025-04: channel list 0-based with page_size (missing -> []), New-Api-User
 *                  required (401 when missing or mismatched), the PUT response echoes the channel key,
 *                  /api/data/ hourly rows, /api/user/dashboard -> strconv error.
 * - 'new-api-2026' new-api main: {items,total,page,page_size,type_counts} 1-based paging (default 10,
 *                  cap 100), New-Api-User ignored, 401/403 with code fields, PUT rejects `status`,
 *                  POST /api/channel/:id/status and /status/batch, PUT with an unknown id -> record not found.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type SimFlavour = 'one-api' | 'new-api-2025' | 'new-api-2026';

export interface SimChannel {
  id: number;
  name: string;
  models: string[];
  priority: number | null;
  weight: number | null;
  status: number;
  key: string;
  type?: number;
  group?: string;
  tag?: string | null;
}

export interface SimUsage {
  model: string;
  /** epoch ms (default now) */
  time?: number;
  promptTokens: number;
  completionTokens: number;
  /** default promptTokens + completionTokens */
  quota?: number;
  /** number of requests (log rows) this usage is spread over (default 1) */
  requests?: number;
  channelId?: number;
  /** default the admin user */
  userId?: number;
}

export interface SimUser {
  token: string;
  id: number;
  /** 1 common, 10 admin, 100 root */
  role: number;
  username?: string;
}

export interface OneApiSimulatorOptions {
  flavour: SimFlavour;
  accessToken: string;
  /** the admin's user id (default 1) */
  userId?: number;
  port?: number;
  host?: string;
  channels?: SimChannel[];
  quotaPerUnit?: number;
  latencyMs?: number;
  /** more users (e.g. a common user, to see 'insufficient privilege' answers) */
  users?: SimUser[];
  version?: string;
}

export interface SimMode {
  /** destroy every socket instead of answering */
  down?: boolean;
  /** delay every answer */
  delayMs?: number;
  /** answer every /api request with HTTP 429 and an empty body (global API rate limit) */
  rateLimited?: boolean;
  /**
   * raw entries appended as they are to the usage lists (dashboard, /api/data/, log pages), to
   * see how a client copes with malformed rows (null, strings, bad numbers...)
   */
  junkRows?: unknown[];
}

export interface SimWrite {
  method: string;
  path: string;
  body: unknown;
  at: number;
}

export interface SimRequest {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
}

export interface OneApiSimulator {
  url: string;
  port: number;
  flavour: SimFlavour;
  /** current channel state (copies) */
  channels(): SimChannel[];
  /** feeds dashboard, logs, log stat and hourly quota data consistently */
  addUsage(u: SimUsage): void;
  /** every mutating request received (PUT/POST), accepted or not */
  writes(): SimWrite[];
  /** every request received (path includes the query string) */
  requests(): SimRequest[];
  setMode(mode: SimMode): void;
  /** replaces channels (default: the initial ones) and clears usage, writes and requests */
  reset(channels?: SimChannel[]): void;
  close(): Promise<void>;
}

interface ChannelRow extends SimChannel {
  createdTime: number;
  testTime: number;
  responseTime: number;
  balance: number;
  usedQuota: number;
}

interface LogRow {
  id: number;
  userId: number;
  username: string;
  createdAt: number; // seconds
  type: number;
  model: string;
  quota: number;
  promptTokens: number;
  completionTokens: number;
  channelId: number;
  tokenName: string;
}

const ONE_API_PAGE = 10;
const MAX_BODY = 1024 * 1024;
const MSG_NO_AUTH = '无权进行此操作，未登录且未提供 access token';
const MSG_BAD_TOKEN = '无权进行此操作，access token 无效';
const MSG_LOW_ROLE = '无权进行此操作，权限不足';

function copyChannel(c: SimChannel): SimChannel {
  const out: SimChannel = { id: c.id, name: c.name, models: [...c.models], priority: c.priority, weight: c.weight, status: c.status, key: c.key };
  if (c.type !== undefined) out.type = c.type;
  if (c.group !== undefined) out.group = c.group;
  if (c.tag !== undefined) out.tag = c.tag;
  return out;
}

function utcDay(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(0, 10);
}

class Sim implements OneApiSimulator {
  url = '';
  port = 0;
  readonly flavour: SimFlavour;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private chans = new Map<number, ChannelRow>();
  private logs: LogRow[] = [];
  private nextLogId = 1;
  private writeLog: SimWrite[] = [];
  private requestLog: SimRequest[] = [];
  private mode: SimMode = {};
  private readonly users: SimUser[];
  private readonly adminId: number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: OneApiSimulatorOptions) {
    this.flavour = opts.flavour;
    this.adminId = opts.userId ?? 1;
    this.users = [{ token: opts.accessToken, id: this.adminId, role: 100, username: 'root' }, ...(opts.users ?? [])];
    this.load(opts.channels ?? []);
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.port = addr.port;
    const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
    this.url = `http://${host}:${this.port}`;
  }

  private load(channels: SimChannel[]): void {
    this.chans = new Map();
    const now = Math.floor(Date.now() / 1000);
    for (const c of channels) {
      this.chans.set(c.id, { ...copyChannel(c), createdTime: now - 86400 * 30, testTime: now - 3600, responseTime: 800, balance: 0, usedQuota: 0 });
    }
  }

  channels(): SimChannel[] {
    return [...this.chans.values()].sort((a, b) => a.id - b.id).map(copyChannel);
  }

  addUsage(u: SimUsage): void {
    const n = Math.max(1, Math.floor(u.requests ?? 1));
    const timeSec = Math.floor((u.time ?? Date.now()) / 1000);
    const quota = Math.round(u.quota ?? u.promptTokens + u.completionTokens);
    const userId = u.userId ?? this.adminId;
    const user = this.users.find((x) => x.id === userId);
    const channelId = u.channelId ?? [...this.chans.values()].find((c) => c.models.some((m) => m.toLowerCase() === u.model.toLowerCase()))?.id ?? 0;
    const split = (total: number, i: number): number => Math.floor(total / n) + (i < total % n ? 1 : 0);
    for (let i = 0; i < n; i++) {
      this.logs.push({
        id: this.nextLogId++,
        userId,
        username: user?.username ?? `user${userId}`,
        createdAt: timeSec,
        type: 2,
        model: u.model,
        quota: split(quota, i),
        promptTokens: split(Math.round(u.promptTokens), i),
        completionTokens: split(Math.round(u.completionTokens), i),
        channelId,
        tokenName: 'default',
      });
    }
    const ch = this.chans.get(channelId);
    if (ch) ch.usedQuota += quota;
  }

  writes(): SimWrite[] {
    return this.writeLog.map((w) => ({ ...w }));
  }

  requests(): SimRequest[] {
    return this.requestLog.map((r) => ({ ...r, headers: { ...r.headers } }));
  }

  setMode(mode: SimMode): void {
    this.mode = { ...this.mode, ...mode };
    if (mode.down) for (const s of this.sockets) s.destroy();
  }

  reset(channels?: SimChannel[]): void {
    this.load(channels ?? this.opts.channels ?? []);
    this.logs = [];
    this.nextLogId = 1;
    this.writeLog = [];
    this.requestLog = [];
    this.mode = {};
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // --- HTTP ----------------------------------------------------------------------------------

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.mode.down) {
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const method = (req.method ?? 'GET').toUpperCase();
    this.requestLog.push({ method, path: req.url ?? '/', headers });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const delay = (this.opts.latencyMs ?? 0) + (this.mode.delayMs ?? 0);
      const run = (): void => {
        if (this.mode.down) {
          req.socket.destroy();
          return;
        }
        try {
          this.route(method, req.url ?? '/', headers, text, res);
        } catch (err) {
          this.json(res, 500, { success: false, message: String((err as Error)?.message ?? err) });
        }
      };
      if (delay > 0) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          run();
        }, delay);
        this.timers.add(t);
      } else run();
    });
    req.on('error', () => undefined);
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.destroyed || res.writableEnded) return;
    const data = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(data) });
    res.end(data);
  }

  private ok(res: http.ServerResponse, data: unknown): void {
    this.json(res, 200, { success: true, message: '', data });
  }

  private fail(res: http.ServerResponse, message: string, status = 200, extra: Record<string, unknown> = {}): void {
    this.json(res, status, { success: false, ...extra, message });
  }

  private noRoute(res: http.ServerResponse, method: string, path: string): void {
    this.json(res, 404, { error: { message: `Invalid URL (${method} ${path})`, type: 'invalid_request_error', param: '', code: '' } });
  }

  /** Auth per flavour. Returns the user, or null after answering. */
  private auth(res: http.ServerResponse, headers: Record<string, string | undefined>, minRole: number): SimUser | null {
    const raw = headers['authorization'];
    const is2026 = this.flavour === 'new-api-2026';
    let token = raw ?? '';
    token = is2026 ? token.replace(/^Bearer\s+/i, '') : token.replace('Bearer ', '');
    token = token.trim();
    const user = token ? this.users.find((u) => u.token === token) : undefined;
    if (is2026) {
      if (!user) {
        this.fail(res, 'Unauthorized, invalid access token', 401, { code: 'AUTH_UNAUTHORIZED' });
        return null;
      }
      if (user.role < minRole) {
        this.fail(res, 'Forbidden, insufficient privilege', 403, { code: 'AUTH_INSUFFICIENT_PRIVILEGE' });
        return null;
      }
      return user;
    }
    if (!raw) {
      this.fail(res, MSG_NO_AUTH, 401);
      return null;
    }
    if (!user) {
      this.fail(res, MSG_BAD_TOKEN, 200);
      return null;
    }
    if (this.flavour === 'new-api-2025') {
      const hdr = headers['new-api-user'];
      if (hdr === undefined || hdr === '') {
        this.fail(res, '无权进行此操作，未提供 New-Api-User', 401);
        return null;
      }
      if (!/^-?\d+$/.test(hdr.trim())) {
        this.fail(res, '无权进行此操作，New-Api-User 格式错误', 401);
        return null;
      }
      if (Number(hdr.trim()) !== user.id) {
        this.fail(res, '无权进行此操作，New-Api-User 与登录用户不匹配', 401);
        return null;
      }
    }
    if (user.role < minRole) {
      this.fail(res, MSG_LOW_ROLE, 200);
      return null;
    }
    return user;
  }

  private route(method: string, rawUrl: string, headers: Record<string, string | undefined>, text: string, res: http.ServerResponse): void {
    const u = new URL(rawUrl, 'http://sim');
    const path = u.pathname;
    const q = u.searchParams;
    if (!path.startsWith('/api/') && path !== '/api') {
      // the web UI
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><head><title>One API</title></head><body><div id="root"></div></body></html>');
      return;
    }
    if (this.mode.rateLimited) {
      res.writeHead(429, { 'Content-Length': 0 });
      res.end();
      return;
    }
    const isWrite = method === 'PUT' || method === 'POST' || method === 'DELETE';
    let body: unknown = undefined;
    let bodyError: string | null = null;
    if (isWrite) {
      if (text.trim() === '') bodyError = 'EOF';
      else {
        try {
          body = JSON.parse(text);
        } catch (e) {
          bodyError = `invalid character in JSON: ${(e as Error).message}`;
          body = text;
        }
      }
      this.writeLog.push({ method, path: rawUrl, body, at: Date.now() });
    }

    if (method === 'GET' && path === '/api/status') return this.ok(res, this.statusData());

    const is2026 = this.flavour === 'new-api-2026';
    const isNew = this.flavour !== 'one-api';

    // routes known to the server (auth runs before the handler; unknown routes 404 without auth)
    const channelId = /^\/api\/channel\/(\d+|[^/]+)$/.exec(path);
    const statusRoute = /^\/api\/channel\/([^/]+)\/status$/.exec(path);
    const known =
      (method === 'GET' && (path === '/api/channel/' || path === '/api/channel/search' || path === '/api/user/dashboard' || path === '/api/user/self')) ||
      (method === 'GET' && channelId !== null && channelId[1] !== 'search') ||
      (method === 'PUT' && path === '/api/channel/') ||
      (method === 'GET' && (path === '/api/log/' || path === '/api/log/stat' || path === '/api/log/self' || path === '/api/log/self/stat')) ||
      (isNew && method === 'GET' && (path === '/api/data/' || path === '/api/data/self')) ||
      (is2026 && method === 'POST' && (statusRoute !== null || path === '/api/channel/status/batch'));
    if (!known) return this.noRoute(res, method, path);

    const selfRoute = path === '/api/user/self' || path === '/api/log/self' || path === '/api/log/self/stat' || path === '/api/data/self';
    // new-api: /api/user/dashboard hits the admin route /api/user/:id
    const user = this.auth(res, headers, selfRoute || (path === '/api/user/dashboard' && !isNew) ? 1 : 10);
    if (!user) return;

    if (method === 'GET' && path === '/api/user/self') {
      return this.ok(res, { id: user.id, username: user.username ?? `user${user.id}`, role: user.role, status: 1, quota: 0, used_quota: 0 });
    }
    if (method === 'GET' && path === '/api/user/dashboard') {
      if (isNew) return this.fail(res, 'strconv.Atoi: parsing "dashboard": invalid syntax');
      return this.ok(res, this.dashboard(user.id));
    }
    if (method === 'GET' && path === '/api/channel/') return this.listChannels(res, q);
    if (method === 'GET' && path === '/api/channel/search') return this.searchChannels(res, q);
    if (method === 'GET' && channelId) {
      const id = channelId[1];
      if (!/^\d+$/.test(id)) return this.fail(res, `strconv.Atoi: parsing "${id}": invalid syntax`);
      const ch = this.chans.get(Number(id));
      if (!ch) return this.fail(res, 'record not found');
      return this.ok(res, this.render(ch, false));
    }
    if (method === 'PUT' && path === '/api/channel/') return this.updateChannel(res, body, bodyError);
    if (method === 'POST' && statusRoute) {
      if (bodyError) return this.fail(res, 'Invalid parameters');
      const id = Number(statusRoute[1]);
      const st = (body as { status?: unknown })?.status;
      if (!Number.isInteger(id) || (st !== 1 && st !== 2)) return this.fail(res, 'Invalid parameters');
      const ch = this.chans.get(id);
      if (!ch) return this.ok(res, false);
      const changed = ch.status !== st;
      ch.status = st;
      return this.ok(res, changed);
    }
    if (method === 'POST' && path === '/api/channel/status/batch') {
      const b = body as { ids?: unknown; status?: unknown };
      if (bodyError || !Array.isArray(b?.ids) || (b.status !== 1 && b.status !== 2)) return this.fail(res, 'Invalid parameters');
      let n = 0;
      for (const id of b.ids) {
        const ch = this.chans.get(Number(id));
        if (ch && ch.status !== b.status) {
          ch.status = b.status;
          n++;
        }
      }
      return this.ok(res, n);
    }
    if (method === 'GET' && (path === '/api/log/' || path === '/api/log/self')) {
      return this.listLogs(res, q, path === '/api/log/self' ? user.id : undefined);
    }
    if (method === 'GET' && (path === '/api/log/stat' || path === '/api/log/self/stat')) {
      const rows = this.filterLogs(q, path === '/api/log/self/stat' ? user.id : undefined).filter((l) => l.type === 2);
      const quota = rows.reduce((s, l) => s + l.quota, 0);
      if (!isNew) return this.ok(res, { quota });
      const since = Math.floor(Date.now() / 1000) - 60;
      const recent = this.logs.filter((l) => l.type === 2 && l.createdAt >= since);
      return this.ok(res, { quota, rpm: recent.length, tpm: recent.reduce((s, l) => s + l.promptTokens + l.completionTokens, 0) });
    }
    if (method === 'GET' && (path === '/api/data/' || path === '/api/data/self')) return this.quotaData(res, q, path === '/api/data/self' ? user.id : undefined);
    return this.noRoute(res, method, path);
  }

  private statusData(): Record<string, unknown> {
    const base: Record<string, unknown> = {
      version: this.opts.version ?? (this.flavour === 'one-api' ? 'v0.6.11-alpha.22' : this.flavour === 'new-api-2025' ? 'v0.6.6.2' : 'v1.2.0'),
      start_time: Math.floor(Date.now() / 1000) - 3600,
      email_verification: false,
      github_oauth: false,
      system_name: this.flavour === 'one-api' ? 'One API' : 'New API',
      logo: '',
      footer_html: '',
      server_address: this.url,
      turnstile_check: false,
      top_up_link: '',
      chat_link: '',
      quota_per_unit: this.opts.quotaPerUnit ?? 500000,
      display_in_currency: true,
    };
    if (this.flavour !== 'one-api') {
      Object.assign(base, {
        quota_display_type: 'USD',
        usd_exchange_rate: 7.3,
        enable_data_export: true,
        data_export_default_time: 'hour',
        self_use_mode_enabled: false,
        demo_site_enabled: false,
        setup: true,
      });
    }
    return base;
  }

  private sortedChannels(q: URLSearchParams): ChannelRow[] {
    const all = [...this.chans.values()];
    if (this.flavour === 'one-api' || q.get('id_sort') === 'true') return all.sort((a, b) => b.id - a.id);
    return all.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || b.id - a.id);
  }

  private listChannels(res: http.ServerResponse, q: URLSearchParams): void {
    const all = this.sortedChannels(q);
    const p = Number.parseInt(q.get('p') ?? '0', 10) || 0;
    if (this.flavour === 'one-api') {
      const page = all.slice(Math.max(p, 0) * ONE_API_PAGE, Math.max(p, 0) * ONE_API_PAGE + ONE_API_PAGE);
      return this.ok(res, page.map((c) => this.render(c, false)));
    }
    const psRaw = q.get('page_size');
    const ps = psRaw === null ? 0 : Number.parseInt(psRaw, 10) || 0;
    if (this.flavour === 'new-api-2025') {
      // 0-based p; a missing page_size means LIMIT 0; no cap
      const size = Math.max(ps, 0);
      const start = Math.max(p, 0) * size;
      return this.ok(res, all.slice(start, start + size).map((c) => this.render(c, false)));
    }
    const size = ps <= 0 ? 10 : Math.min(ps, 100);
    const page = p < 1 ? 1 : p;
    const items = all.slice((page - 1) * size, page * size).map((c) => this.render(c, false));
    return this.ok(res, { items, total: all.length, page, page_size: size, type_counts: this.typeCounts(all) });
  }

  private typeCounts(all: ChannelRow[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of all) out[String(c.type ?? 1)] = (out[String(c.type ?? 1)] ?? 0) + 1;
    return out;
  }

  private searchChannels(res: http.ServerResponse, q: URLSearchParams): void {
    const kw = (q.get('keyword') ?? '').toLowerCase();
    const all = this.sortedChannels(q).filter((c) => c.name.toLowerCase().includes(kw) || String(c.id) === kw || (!!kw && c.models.join(',').toLowerCase().includes(kw)));
    const rendered = all.map((c) => this.render(c, false));
    if (this.flavour === 'new-api-2026') return this.ok(res, { items: rendered, total: rendered.length, type_counts: this.typeCounts(all) });
    return this.ok(res, rendered);
  }

  /** Channel JSON as the flavour renders it; `withKey` = the row reloaded after an update. */
  private render(c: ChannelRow, withKey: boolean): Record<string, unknown> {
    const common: Record<string, unknown> = {
      id: c.id,
      type: c.type ?? 1,
      key: withKey ? c.key : '',
      status: c.status,
      name: c.name,
      weight: c.weight,
      created_time: c.createdTime,
      test_time: c.testTime,
      response_time: c.responseTime,
      base_url: '',
      other: '',
      balance: c.balance,
      balance_updated_time: 0,
      models: c.models.join(','),
      group: c.group ?? 'default',
      used_quota: c.usedQuota,
      model_mapping: '',
      priority: c.priority,
    };
    if (this.flavour === 'one-api') return { ...common, config: '', system_prompt: null };
    const extra: Record<string, unknown> = {
      openai_organization: null,
      test_model: null,
      model_mapping: null,
      status_code_mapping: '',
      auto_ban: 1,
      other_info: '',
      tag: c.tag ?? null,
      setting: null,
      param_override: null,
      header_override: null,
      remark: null,
    };
    if (this.flavour === 'new-api-2026') {
      Object.assign(extra, {
        channel_info: { is_multi_key: false, multi_key_size: 0, multi_key_status_list: null, multi_key_polling_index: 0, multi_key_mode: '' },
        settings: '',
      });
    }
    return { ...common, ...extra };
  }

  private updateChannel(res: http.ServerResponse, body: unknown, bodyError: string | null): void {
    if (bodyError) return this.fail(res, bodyError);
    if (!body || typeof body !== 'object' || Array.isArray(body)) return this.fail(res, 'json: cannot unmarshal into Go value of type model.Channel');
    const b = body as Record<string, unknown>;
    const is2026 = this.flavour === 'new-api-2026';
    if (is2026 && 'status' in b) return this.fail(res, 'Invalid parameters');
    // gin binding: wrong JSON types fail the whole request
    const intFields: Array<[string, boolean]> = [
      ['id', false],
      ['priority', false],
      ['weight', true],
      ['status', false],
      ['type', false],
    ];
    for (const [f, unsigned] of intFields) {
      const v = b[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || (unsigned && v < 0)) {
        return this.fail(res, `json: cannot unmarshal ${typeof v === 'number' ? 'number' : typeof v} into Go struct field Channel.${f} of type ${unsigned ? 'uint' : 'int64'}`);
      }
    }
    const id = typeof b.id === 'number' ? b.id : 0;
    const ch = this.chans.get(id);
    if (!id) return this.fail(res, is2026 ? 'record not found' : 'WHERE conditions required');
    if (!ch) {
      if (is2026) return this.fail(res, 'record not found');
      // one-api / new-api 2025-04: the UPDATE hits 0 rows, the reload error is ignored
      return this.ok(res, { id, type: 0, key: '', status: 0, name: '', weight: null, priority: null, models: '', group: '' });
    }
    // gorm Updates(struct): zero values skipped, but pointer fields (priority, weight) take 0
    if (typeof b.priority === 'number') ch.priority = b.priority;
    if (typeof b.weight === 'number') ch.weight = b.weight;
    if (typeof b.status === 'number' && b.status !== 0) ch.status = b.status;
    if (typeof b.name === 'string' && b.name !== '') ch.name = b.name;
    if (typeof b.models === 'string' && b.models !== '') ch.models = b.models.split(',').map((m) => m.trim()).filter(Boolean);
    if (typeof b.group === 'string' && b.group !== '') ch.group = b.group;
    if (typeof b.key === 'string' && b.key !== '') ch.key = b.key;
    if (typeof b.tag === 'string') ch.tag = b.tag;
    // one-api and new-api before 2025-06-22 reload every column, key included
    return this.ok(res, this.render(ch, !is2026));
  }

  private filterLogs(q: URLSearchParams, userId?: number): LogRow[] {
    const type = Number.parseInt(q.get('type') ?? '0', 10) || 0;
    const start = Number.parseInt(q.get('start_timestamp') ?? '0', 10) || 0;
    const end = Number.parseInt(q.get('end_timestamp') ?? '0', 10) || 0;
    const model = q.get('model_name') ?? '';
    const channel = Number.parseInt(q.get('channel') ?? '0', 10) || 0;
    const username = q.get('username') ?? '';
    return this.logs.filter(
      (l) =>
        (userId === undefined || l.userId === userId) &&
        (type === 0 || l.type === type) &&
        (start === 0 || l.createdAt >= start) &&
        (end === 0 || l.createdAt <= end) &&
        (model === '' || l.model === model) &&
        (channel === 0 || l.channelId === channel) &&
        (username === '' || l.username === username),
    );
  }

  private renderLog(l: LogRow): Record<string, unknown> {
    const base: Record<string, unknown> = {
      id: l.id,
      user_id: l.userId,
      created_at: l.createdAt,
      type: l.type,
      content: 'model ratio 1.00, completion ratio 1.00',
      username: l.username,
      token_name: l.tokenName,
      model_name: l.model,
      quota: l.quota,
      prompt_tokens: l.promptTokens,
      completion_tokens: l.completionTokens,
      channel: l.channelId,
      is_stream: false,
    };
    if (this.flavour === 'one-api') return { ...base, request_id: `req-${l.id}`, elapsed_time: 900, system_prompt_reset: false };
    return { ...base, use_time: 1, channel_name: this.chans.get(l.channelId)?.name ?? '', token_id: 1, group: 'default', ip: '', other: '{}' };
  }

  private listLogs(res: http.ServerResponse, q: URLSearchParams, userId?: number): void {
    const rows: unknown[] = this.filterLogs(q, userId)
      .sort((a, b) => b.id - a.id)
      .map((l) => this.renderLog(l));
    rows.push(...(this.mode.junkRows ?? []));
    const p = Number.parseInt(q.get('p') ?? '0', 10) || 0;
    if (this.flavour === 'one-api') {
      const start = Math.max(p, 0) * ONE_API_PAGE;
      return this.ok(res, rows.slice(start, start + ONE_API_PAGE));
    }
    const psRaw = q.get('page_size');
    const ps = psRaw === null ? 0 : Number.parseInt(psRaw, 10) || 0;
    const size = this.flavour === 'new-api-2025' ? Math.max(ps, 0) : ps <= 0 ? 10 : Math.min(ps, 100);
    const page = p < 1 ? 1 : p;
    const items = rows.slice((page - 1) * size, (page - 1) * size + size);
    return this.ok(res, { items, total: rows.length, page, page_size: size });
  }

  private dashboard(userId: number): unknown[] {
    const nowSec = Math.floor(Date.now() / 1000);
    const todayStart = nowSec - (nowSec % 86400);
    const start = todayStart - 6 * 86400;
    const end = todayStart + 86400 - 1;
    const groups = new Map<string, { Day: string; ModelName: string; RequestCount: number; Quota: number; PromptTokens: number; CompletionTokens: number }>();
    for (const l of this.logs) {
      if (l.type !== 2 || l.userId !== userId || l.createdAt < start || l.createdAt > end) continue;
      const day = utcDay(l.createdAt);
      const k = `${day}\u0000${l.model}`;
      let g = groups.get(k);
      if (!g) {
        g = { Day: day, ModelName: l.model, RequestCount: 0, Quota: 0, PromptTokens: 0, CompletionTokens: 0 };
        groups.set(k, g);
      }
      g.RequestCount++;
      g.Quota += l.quota;
      g.PromptTokens += l.promptTokens;
      g.CompletionTokens += l.completionTokens;
    }
    const rows: unknown[] = [...groups.values()].sort((a, b) => (a.Day < b.Day ? -1 : a.Day > b.Day ? 1 : a.ModelName < b.ModelName ? -1 : a.ModelName > b.ModelName ? 1 : 0));
    return [...rows, ...(this.mode.junkRows ?? [])];
  }

  private quotaData(res: http.ServerResponse, q: URLSearchParams, userId?: number): void {
    const start = Number.parseInt(q.get('start_timestamp') ?? '0', 10) || 0;
    const end = Number.parseInt(q.get('end_timestamp') ?? '0', 10) || 0;
    if (userId !== undefined && end - start > 2592000) return this.fail(res, '时间跨度不能超过 1 个月');
    const username = q.get('username') ?? '';
    const byUser = userId !== undefined || username !== '';
    const groups = new Map<string, Record<string, unknown> & { token_used: number; count: number; quota: number }>();
    for (const l of this.logs) {
      if (l.type !== 2) continue;
      const hour = l.createdAt - (l.createdAt % 3600);
      if (hour < start || hour > end) continue;
      if (userId !== undefined && l.userId !== userId) continue;
      if (username && l.username !== username) continue;
      const k = `${byUser ? l.userId : 0}\u0000${l.model}\u0000${hour}`;
      let g = groups.get(k);
      if (!g) {
        g = {
          id: 0,
          user_id: byUser ? l.userId : 0,
          username: byUser ? l.username : '',
          model_name: l.model,
          created_at: hour,
          token_used: 0,
          count: 0,
          quota: 0,
        };
        if (this.flavour === 'new-api-2026') Object.assign(g, { use_group: '', token_id: 0, channel_id: 0, node_name: '' });
        groups.set(k, g);
      }
      g.token_used += l.promptTokens + l.completionTokens;
      g.count++;
      g.quota += l.quota;
    }
    const rows: unknown[] = [...groups.values()].sort((a, b) => (a.created_at as number) - (b.created_at as number) || String(a.model_name).localeCompare(String(b.model_name)));
    return this.ok(res, [...rows, ...(this.mode.junkRows ?? [])]);
  }
}

export async function startOneApiSimulator(opts: OneApiSimulatorOptions): Promise<OneApiSimulator> {
  if (!opts || !['one-api', 'new-api-2025', 'new-api-2026'].includes(opts.flavour)) throw new Error('simulator flavour must be one-api, new-api-2025 or new-api-2026');
  if (!opts.accessToken) throw new Error('simulator needs an access token');
  const sim = new Sim(opts);
  await sim.listen();
  return sim;
}

export { DEMO_CHANNELS, DEMO_BASELINE_PRIORITIES, DEMO_ALLOWANCES, demoChannels, startUsageTraffic, seedUsageHistory } from './demo-data';
