// An OpenAI-compatible provider simulator: several accounts (API keys) with
// real-provider limits (requests/min as a sliding window, tokens/min,
// concurrency), injected faults, latency and streaming. It counts every
// request that breaks a limit, so tests and benchmarks can prove that a client
// stays within each account's limits.
//
// Endpoints: POST /v1/chat/completions (stream or not), POST /v1/embeddings,
// GET /v1/models, GET /v1/models/<id>, GET /health (no auth).

import http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { contentText, estimatePromptTokens, estimateTokens, truncateToTokens } from './tokens';

export { estimateTokens, estimatePromptTokens, truncateToTokens } from './tokens';

export interface FaultSpec {
  /** 500/502/503 with an OpenAI-shaped error body. */
  error5xx?: number;
  /** 429 with Retry-After (seconds) and retry-after-ms headers. */
  rate429?: number;
  /** Retry-After announced on injected 429s, in scaled ms (default 1000 * timeScale). */
  retryAfterMs?: number;
  /** Accept and never answer, until the client aborts or the socket closes. */
  hang?: number;
  /** Destroy the socket without a response. */
  reset?: number;
  /** 200 with a truncated, non-JSON body. */
  malformed?: number;
  /** 200 with {"error":{...}} instead of a completion. */
  errorBody?: number;
  /** Streaming only: stop after a few chunks without [DONE] (socket destroyed). */
  cutStream?: number;
  /** 400 invalid_request_error. */
  badRequest?: number;
  /** Refuse: destroy every connection of this account immediately. */
  down?: boolean;
}

export interface SimAccount {
  /** The API key (Authorization: Bearer <key>). */
  key: string;
  name?: string;
  /** Requests per (scaled) minute, sliding window; null/undefined = unlimited. */
  rpm?: number | null;
  /** Tokens (prompt + completion) per (scaled) minute, sliding window. */
  tpm?: number | null;
  /** Max concurrent requests. */
  concurrency?: number | null;
  /** Served models; others get 404 model_not_found. Undefined = any model. */
  models?: string[];
  /** Prompt tokens above it get 400 code context_length_exceeded. */
  contextWindow?: number;
  /** Base latency per request (real ms, not scaled). */
  latencyMs?: number;
  /** Uniform extra latency in [0, jitterMs) (real ms). */
  jitterMs?: number;
  /** Streaming: real ms between chunks (default 0: the whole stream in one write). */
  chunkDelayMs?: number;
  faults?: FaultSpec;
}

export interface AccountStats {
  /** Authenticated requests to the account's API endpoints. */
  requests: number;
  /** Successful answers sent in full. */
  completed: number;
  /** Non-429 failures: injected faults, down refusals, invalid requests. */
  errors: number;
  /** Every 429 (limits and injected). */
  rejected429: number;
  /** Requests that arrived when the rpm window was already full. */
  rpmViolations: number;
  /** Requests that arrived while `concurrency` requests were in flight. */
  concurrencyViolations: number;
  /** Requests whose tokens did not fit the tpm window. */
  tpmViolations: number;
  /** Requests arriving before a Retry-After this account announced had expired. */
  earlyRetries: number;
  maxConcurrentSeen: number;
  /** The most accepted requests inside any one (scaled) minute window. */
  maxRequestsInWindow: number;
  /** Tokens of completed requests. */
  promptTokens: number;
  completionTokens: number;
  /** Requests per requested model name (every request whose body named a model). */
  byModel: Record<string, number>;
  /** Accepted requests whose client went away before the answer was sent (incl. hangs). */
  aborted: number;
  /** Injected faults by kind (error5xx, rate429, hang, reset, malformed, errorBody, cutStream, badRequest, down). */
  injected: Record<string, number>;
}

export interface ProviderSimulatorOptions {
  accounts: SimAccount[];
  port?: number;
  host?: string;
  /** 1 = real time; 0.05 => a minute lasts 3 s. Scales the rpm/tpm window and announced Retry-After. */
  timeScale?: number;
  /** Seed for fault injection and jitter (default 1). */
  seed?: number;
  /**
   * Real ms by which window entries and announced Retry-After expire early in the
   * client's favour, to absorb loopback/timer skew (default 2).
   */
  toleranceMs?: number;
  /**
   * Requests arriving within this many real ms after a Retry-After period began
   * are not counted as early retries: they may have been sent before the client
   * could read the 429 (default 10, at most a quarter of the announced wait).
   */
  retryGraceMs?: number;
}

export interface LimitSpec {
  rpm?: number | null;
  tpm?: number | null;
  concurrency?: number | null;
}

export interface ProviderSimulator {
  /** Base URL incl. /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  /** 60000 * timeScale */
  minuteMs: number;
  /** Replaces the account's fault spec (including `down`). */
  setFaults(key: string, faults: FaultSpec): void;
  /** Sets base latency and jitter (jitter 0 when omitted). */
  setLatency(key: string, latencyMs: number, jitterMs?: number): void;
  setDown(key: string, down: boolean): void;
  /** Changes limits; fields left out stay as they are, null = unlimited. */
  setLimits(key: string, limits: LimitSpec): void;
  stats(key: string): AccountStats;
  /** Sums over accounts; maxConcurrentSeen / maxRequestsInWindow are the maximum over accounts. */
  totals(): AccountStats;
  /** Clears counters; limit state (window, in-flight, announced Retry-After) is kept. */
  resetStats(): void;
  /** Clears the limit state (window, announced Retry-After) of one account or all. */
  resetLimits(key?: string): void;
  /** Requests currently in flight for the account. */
  inFlight(key: string): number;
  /** Closes the server and every socket; the process can exit. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------

const FAULT_NONE = 0;
const FAULT_5XX = 1;
const FAULT_429 = 2;
const FAULT_HANG = 3;
const FAULT_RESET = 4;
const FAULT_MALFORMED = 5;
const FAULT_ERROR_BODY = 6;
const FAULT_CUT = 7;
const FAULT_BAD_REQUEST = 8;

const PROB_FIELDS = ['error5xx', 'rate429', 'hang', 'reset', 'malformed', 'errorBody', 'cutStream', 'badRequest'] as const;

const MAX_BODY_BYTES = 64 * 1024 * 1024;
const ECHO_CHARS = 60;
const EMBEDDING_DIMS = 8;

interface AccountState {
  key: string;
  name: string;
  headerName: string;
  models: Set<string> | null;
  modelsJson: string;
  contextWindow: number;
  rpm: number;
  tpm: number;
  concurrency: number;
  latencyMs: number;
  jitterMs: number;
  chunkDelayMs: number;
  faults: FaultSpec;
  hasFaults: boolean;
  down: boolean;
  faultRng: () => number;
  jitterRng: () => number;
  // sliding window of accepted requests: arrival times and tokens
  logTs: number[];
  logTok: number[];
  head: number;
  tokSum: number;
  inFlight: number;
  retryUntil: number;
  retryFrom: number;
  retryGrace: number;
  replyCache: Map<string, Reply>;
  stats: AccountStats;
}

interface Reply {
  content: string;
  tokens: number;
  finish: string;
}

interface Job {
  st: AccountState;
  res: http.ServerResponse;
  socket: Socket;
  embeddings: boolean;
  model: string;
  stream: boolean;
  includeUsage: boolean;
  promptTokens: number;
  reply: Reply;
  inputs: number;
  fault: number;
  status5xx: number;
  timer: NodeJS.Timeout | null;
  released: boolean;
  answered: boolean;
}

function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function emptyStats(): AccountStats {
  return {
    requests: 0,
    completed: 0,
    errors: 0,
    rejected429: 0,
    rpmViolations: 0,
    concurrencyViolations: 0,
    tpmViolations: 0,
    earlyRetries: 0,
    maxConcurrentSeen: 0,
    maxRequestsInWindow: 0,
    promptTokens: 0,
    completionTokens: 0,
    byModel: {},
    aborted: 0,
    injected: {},
  };
}

function copyStats(s: AccountStats): AccountStats {
  return { ...s, byModel: { ...s.byModel }, injected: { ...s.injected } };
}

function limitValue(v: number | null | undefined, what: string): number {
  if (v === null || v === undefined) return Infinity;
  if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`provider simulator: ${what} must be a number >= 0 or null`);
  return v;
}

function validateFaults(f: FaultSpec): FaultSpec {
  if (!f || typeof f !== 'object') throw new TypeError('provider simulator: faults must be an object');
  for (const field of PROB_FIELDS) {
    const p = f[field];
    if (p === undefined) continue;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new RangeError(`provider simulator: faults.${field} must be a probability 0..1`);
  }
  if (f.retryAfterMs !== undefined && (typeof f.retryAfterMs !== 'number' || !(f.retryAfterMs >= 0))) {
    throw new RangeError('provider simulator: faults.retryAfterMs must be a number >= 0');
  }
  return { ...f };
}

function hasProbabilities(f: FaultSpec): boolean {
  for (const field of PROB_FIELDS) if ((f[field] ?? 0) > 0) return true;
  return false;
}

function errorBody(message: string, type: string, code: string | null, param: string | null = null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

const BODY_401_MISSING = errorBody(
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
  'invalid_request_error',
  'invalid_api_key',
);
const BODY_401_INVALID = errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
const BODY_5XX: Record<number, string> = {
  500: errorBody('The server had an error while processing your request. Sorry about that!', 'server_error', 'internal_error'),
  502: errorBody('Bad gateway.', 'server_error', 'bad_gateway'),
  503: errorBody('The engine is currently overloaded, please try again later.', 'server_error', 'service_unavailable'),
};
const STATUS_5XX = [500, 502, 503];
const BODY_ERROR_200 = errorBody('The server had an error processing your request.', 'server_error', 'upstream_error');
const BODY_BAD_REQUEST = errorBody('Invalid request: the request body could not be processed.', 'invalid_request_error', 'invalid_request');
const BODY_429_INJECTED = errorBody('Rate limit reached. Please try again later.', 'requests', 'rate_limit_exceeded');

function sendJson(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function rng3(r: () => number): number {
  return STATUS_5XX[Math.min(2, Math.floor(r() * 3))];
}

export function startProviderSimulator(opts: ProviderSimulatorOptions): Promise<ProviderSimulator> {
  if (!opts || !Array.isArray(opts.accounts)) return Promise.reject(new TypeError('provider simulator: accounts[] required'));
  const timeScale = opts.timeScale ?? 1;
  if (typeof timeScale !== 'number' || !(timeScale > 0)) return Promise.reject(new RangeError('provider simulator: timeScale must be > 0'));
  const minuteMs = 60000 * timeScale;
  const seed = (opts.seed ?? 1) | 0;
  const tol = opts.toleranceMs ?? 2;
  const retryGraceMs = opts.retryGraceMs ?? 10;
  const host = opts.host ?? '127.0.0.1';

  const accounts = new Map<string, AccountState>();
  try {
    for (const a of opts.accounts) {
      if (!a || typeof a.key !== 'string' || a.key === '') throw new TypeError('provider simulator: every account needs a non-empty key');
      if (accounts.has(a.key)) throw new Error(`provider simulator: duplicate account key for ${a.name ?? 'an account'}`);
      accounts.set(a.key, makeAccount(a, accounts.size));
    }
  } catch (e) {
    return Promise.reject(e);
  }

  function makeAccount(a: SimAccount, index: number): AccountState {
    const name = a.name ?? `account-${index + 1}`;
    const faults = validateFaults(a.faults ?? {});
    const st: AccountState = {
      key: a.key,
      name,
      headerName: encodeURIComponent(name),
      models: a.models ? new Set(a.models) : null,
      modelsJson: JSON.stringify({
        object: 'list',
        data: (a.models ?? []).map((id) => ({ id, object: 'model', created: 1700000000, owned_by: name })),
      }),
      contextWindow: a.contextWindow ?? Infinity,
      rpm: limitValue(a.rpm, 'rpm'),
      tpm: limitValue(a.tpm, 'tpm'),
      concurrency: limitValue(a.concurrency, 'concurrency'),
      latencyMs: Math.max(0, a.latencyMs ?? 0),
      jitterMs: Math.max(0, a.jitterMs ?? 0),
      chunkDelayMs: Math.max(0, a.chunkDelayMs ?? 0),
      faults,
      hasFaults: hasProbabilities(faults),
      down: !!faults.down,
      faultRng: mulberry32(seed ^ fnv1a(a.key)),
      jitterRng: mulberry32((seed + 0x9e3779b9) ^ fnv1a(a.key)),
      logTs: [],
      logTok: [],
      head: 0,
      tokSum: 0,
      inFlight: 0,
      retryUntil: -Infinity,
      retryFrom: -Infinity,
      retryGrace: 0,
      replyCache: new Map(),
      stats: emptyStats(),
    };
    return st;
  }

  function account(key: string): AccountState {
    const st = accounts.get(key);
    if (!st) throw new Error('provider simulator: unknown account key');
    return st;
  }

  let nextId = 1;
  const sockets = new Set<Socket>();
  const jobs = new Set<Job>();

  // --- sliding window ------------------------------------------------------

  function prune(st: AccountState, now: number): void {
    const cutoff = now - minuteMs + tol;
    const ts = st.logTs;
    let h = st.head;
    while (h < ts.length && ts[h] <= cutoff) {
      st.tokSum -= st.logTok[h];
      h++;
    }
    if (h === ts.length) {
      ts.length = 0;
      st.logTok.length = 0;
      st.tokSum = 0;
      h = 0;
    } else if (h > 4096 && h * 2 > ts.length) {
      ts.splice(0, h);
      st.logTok.splice(0, h);
      h = 0;
    }
    st.head = h;
  }

  // --- 429 ------------------------------------------------------------------

  /** Remembers an announced Retry-After; later arrivals before it expires are early retries. */
  function announce(st: AccountState, now: number, ms: number): void {
    if (now >= st.retryUntil) {
      st.retryFrom = now;
      st.retryGrace = Math.min(retryGraceMs, ms / 4);
    }
    const until = now + ms;
    if (until > st.retryUntil) st.retryUntil = until;
  }

  function reject429(st: AccountState, res: http.ServerResponse, now: number, waitMs: number, body: string): void {
    const ms = Math.max(1, Math.ceil(waitMs));
    announce(st, now, ms);
    st.stats.rejected429++;
    res.writeHead(429, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'retry-after': String(Math.ceil(ms / 1000)),
      'retry-after-ms': String(ms),
      'x-sim-account': st.headerName,
    });
    res.end(body);
  }

  // --- request entry ----------------------------------------------------------

  function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', noop);
    res.on('error', noop);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;

    let kind: 'chat' | 'embeddings' | 'models' | 'model';
    if (path === '/v1/chat/completions' || path === '/chat/completions') kind = 'chat';
    else if (path === '/v1/embeddings' || path === '/embeddings') kind = 'embeddings';
    else if (path === '/v1/models' || path === '/models') kind = 'models';
    else if (path.startsWith('/v1/models/')) kind = 'model';
    else if (path === '/health' || path === '/v1/health') {
      sendJson(res, 200, '{"status":"ok"}');
      return;
    } else {
      sendJson(res, 404, errorBody(`Unknown request URL: ${req.method} ${path}.`, 'invalid_request_error', 'unknown_url'));
      return;
    }
    const wantMethod = kind === 'chat' || kind === 'embeddings' ? 'POST' : 'GET';
    if (req.method !== wantMethod) {
      res.setHeader('allow', wantMethod);
      sendJson(res, 405, errorBody(`Method ${req.method} not allowed; use ${wantMethod}.`, 'invalid_request_error', 'method_not_allowed'));
      return;
    }

    const auth = req.headers.authorization;
    if (!auth) {
      sendJson(res, 401, BODY_401_MISSING);
      return;
    }
    const st = auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ' ? accounts.get(auth.slice(7).trim()) : undefined;
    if (!st) {
      sendJson(res, 401, BODY_401_INVALID);
      return;
    }

    if (st.down) {
      if (kind === 'chat' || kind === 'embeddings') {
        st.stats.requests++;
        st.stats.errors++;
        st.stats.injected.down = (st.stats.injected.down ?? 0) + 1;
      }
      req.socket.destroy();
      return;
    }

    if (kind === 'models' || kind === 'model') {
      if (kind === 'models') {
        sendJson(res, 200, st.modelsJson);
        return;
      }
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (st.models && !st.models.has(id)) {
        sendJson(res, 404, errorBody(`The model \`${id}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found', 'model'));
      } else {
        sendJson(res, 200, JSON.stringify({ id, object: 'model', created: 1700000000, owned_by: st.name }));
      }
      return;
    }

    st.stats.requests++;
    const arrival = performance.now();
    if (arrival < st.retryUntil - tol && arrival >= st.retryFrom + st.retryGrace) st.stats.earlyRetries++;

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (tooLarge) {
        st.stats.errors++;
        sendJson(res, 413, errorBody('Request body too large.', 'invalid_request_error', 'request_too_large'));
        return;
      }
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
      handleApi(st, kind === 'embeddings', text, req, res);
    });
  }

  function invalid(st: AccountState, res: http.ServerResponse, status: number, body: string): void {
    st.stats.errors++;
    sendJson(res, status, body);
  }

  function handleApi(st: AccountState, embeddings: boolean, text: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      invalid(st, res, 400, errorBody('We could not parse the JSON body of your request.', 'invalid_request_error', 'invalid_json'));
      return;
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      invalid(st, res, 400, errorBody('The request body must be a JSON object.', 'invalid_request_error', 'invalid_request'));
      return;
    }
    const model = body.model;
    if (typeof model !== 'string' || model === '') {
      invalid(st, res, 400, errorBody('you must provide a model parameter', 'invalid_request_error', 'missing_required_parameter', 'model'));
      return;
    }
    const byModel = st.stats.byModel;
    byModel[model] = (byModel[model] ?? 0) + 1;
    if (st.models && !st.models.has(model)) {
      invalid(st, res, 404, errorBody(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found', 'model'));
      return;
    }

    let promptTokens: number;
    let reply: Reply = NO_REPLY;
    let inputs = 0;
    let stream = false;
    let includeUsage = false;
    if (embeddings) {
      const input = body.input;
      const list = typeof input === 'string' ? [input] : Array.isArray(input) ? input : null;
      if (!list || list.length === 0 || !list.every((x) => typeof x === 'string')) {
        invalid(st, res, 400, errorBody("'input' must be a string or a non-empty array of strings.", 'invalid_request_error', 'invalid_value', 'input'));
        return;
      }
      inputs = list.length;
      promptTokens = 0;
      for (const s of list as string[]) promptTokens += estimateTokens(s);
    } else {
      const messages = body.messages;
      if (!Array.isArray(messages) || messages.length === 0) {
        invalid(st, res, 400, errorBody("'messages' must be a non-empty array.", 'invalid_request_error', 'invalid_value', 'messages'));
        return;
      }
      const mt = body.max_completion_tokens ?? body.max_tokens;
      let maxTokens = Infinity;
      if (mt !== undefined && mt !== null) {
        if (typeof mt !== 'number' || !Number.isInteger(mt) || mt < 1) {
          invalid(st, res, 400, errorBody('max_tokens must be a positive integer.', 'invalid_request_error', 'invalid_value', 'max_tokens'));
          return;
        }
        maxTokens = mt;
      }
      promptTokens = estimatePromptTokens(messages);
      stream = body.stream === true;
      includeUsage = stream && !!body.stream_options && (body.stream_options as { include_usage?: unknown }).include_usage === true;
      reply = buildReply(st, model, messages, maxTokens);
    }
    if (promptTokens > st.contextWindow) {
      invalid(
        st,
        res,
        400,
        errorBody(
          `This model's maximum context length is ${st.contextWindow} tokens. However, your messages resulted in ${promptTokens} tokens. Please reduce the length of the messages.`,
          'invalid_request_error',
          'context_length_exceeded',
          'messages',
        ),
      );
      return;
    }

    // --- limits, like a real provider -------------------------------------
    const now = performance.now();
    if (st.inFlight >= st.concurrency) {
      st.stats.concurrencyViolations++;
      reject429(
        st,
        res,
        now,
        Math.max(1, st.latencyMs),
        errorBody(`Too many concurrent requests: limit ${st.concurrency}. Please try again shortly.`, 'requests', 'rate_limit_exceeded'),
      );
      return;
    }
    prune(st, now);
    const inWindow = st.logTs.length - st.head;
    if (inWindow >= st.rpm) {
      st.stats.rpmViolations++;
      const wait = st.rpm === 0 ? minuteMs : st.logTs[st.head] + minuteMs - now;
      reject429(
        st,
        res,
        now,
        wait,
        errorBody(
          `Rate limit reached for requests per min (RPM): Limit ${st.rpm}, Used ${inWindow}, Requested 1. Please try again in ${Math.ceil(wait)}ms.`,
          'requests',
          'rate_limit_exceeded',
        ),
      );
      return;
    }
    const tokens = promptTokens + reply.tokens;
    if (st.tokSum + tokens > st.tpm) {
      st.stats.tpmViolations++;
      let wait = minuteMs;
      if (tokens <= st.tpm) {
        const need = st.tokSum + tokens - st.tpm;
        let freed = 0;
        for (let i = st.head; i < st.logTs.length; i++) {
          freed += st.logTok[i];
          if (freed >= need) {
            wait = st.logTs[i] + minuteMs - now;
            break;
          }
        }
      }
      reject429(
        st,
        res,
        now,
        wait,
        errorBody(
          tokens > st.tpm
            ? `Request too large for tokens per min (TPM): Limit ${st.tpm}, Requested ${tokens}.`
            : `Rate limit reached for tokens per min (TPM): Limit ${st.tpm}, Used ${st.tokSum}, Requested ${tokens}. Please try again in ${Math.ceil(wait)}ms.`,
          'tokens',
          'rate_limit_exceeded',
        ),
      );
      return;
    }

    // --- accepted -----------------------------------------------------------
    st.logTs.push(now);
    st.logTok.push(tokens);
    st.tokSum += tokens;
    if (inWindow + 1 > st.stats.maxRequestsInWindow) st.stats.maxRequestsInWindow = inWindow + 1;
    st.inFlight++;
    if (st.inFlight > st.stats.maxConcurrentSeen) st.stats.maxConcurrentSeen = st.inFlight;

    const job: Job = {
      st,
      res,
      socket: req.socket,
      embeddings,
      model,
      stream,
      includeUsage,
      promptTokens,
      reply,
      inputs,
      fault: FAULT_NONE,
      status5xx: 0,
      timer: null,
      released: false,
      answered: false,
    };
    if (st.hasFaults) pickFault(job);
    jobs.add(job);
    res.once('close', () => {
      if (!job.released) {
        if (!job.answered) st.stats.aborted++;
        release(job);
      }
    });

    const delay = st.latencyMs + (st.jitterMs > 0 ? st.jitterRng() * st.jitterMs : 0);
    if (delay > 0) job.timer = setTimeout(respond, delay, job);
    else respond(job);
  }

  function release(job: Job): void {
    if (job.released) return;
    job.released = true;
    job.st.inFlight--;
    if (job.timer) {
      clearTimeout(job.timer);
      job.timer = null;
    }
    jobs.delete(job);
  }

  function pickFault(job: Job): void {
    const f = job.st.faults;
    const r = job.st.faultRng;
    let fault = FAULT_NONE;
    if (f.error5xx && r() < f.error5xx) {
      fault = FAULT_5XX;
      job.status5xx = rng3(r);
    } else if (f.rate429 && r() < f.rate429) fault = FAULT_429;
    else if (f.hang && r() < f.hang) fault = FAULT_HANG;
    else if (f.reset && r() < f.reset) fault = FAULT_RESET;
    else if (f.malformed && r() < f.malformed) fault = FAULT_MALFORMED;
    else if (f.errorBody && r() < f.errorBody) fault = FAULT_ERROR_BODY;
    else if (job.stream && f.cutStream && r() < f.cutStream) fault = FAULT_CUT;
    else if (f.badRequest && r() < f.badRequest) fault = FAULT_BAD_REQUEST;
    if (fault === FAULT_NONE) return;
    job.fault = fault;
    const name = FAULT_NAMES[fault];
    const inj = job.st.stats.injected;
    inj[name] = (inj[name] ?? 0) + 1;
    if (fault === FAULT_429) job.st.stats.rejected429++;
    else job.st.stats.errors++;
  }

  function respond(job: Job): void {
    job.timer = null;
    if (job.released) return;
    const { st, res } = job;
    switch (job.fault) {
      case FAULT_NONE:
        if (job.embeddings) sendEmbeddings(job);
        else if (job.stream) sendStream(job, false);
        else sendCompletion(job);
        return;
      case FAULT_5XX:
        job.answered = true;
        sendJson(res, job.status5xx, BODY_5XX[job.status5xx]);
        release(job);
        return;
      case FAULT_429: {
        job.answered = true;
        const ms = Math.max(1, Math.ceil(st.faults.retryAfterMs ?? 1000 * timeScale));
        announce(st, performance.now(), ms);
        res.writeHead(429, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(BODY_429_INJECTED),
          'retry-after': String(Math.ceil(ms / 1000)),
          'retry-after-ms': String(ms),
          'x-sim-account': st.headerName,
        });
        res.end(BODY_429_INJECTED);
        release(job);
        return;
      }
      case FAULT_HANG:
        return; // released when the client closes the socket
      case FAULT_RESET:
        job.answered = true;
        job.socket.destroy();
        release(job);
        return;
      case FAULT_MALFORMED: {
        job.answered = true;
        if (job.stream) {
          const id = newId();
          const created = nowSec();
          const full = chunkLine(job, id, created, `{"content":${JSON.stringify(job.reply.content)}}`, 'null');
          const body = chunkLine(job, id, created, '{"role":"assistant","content":""}', 'null') + full.slice(0, full.length >> 1) + '\n\ndata: [DONE]\n\n';
          res.writeHead(200, streamHeaders(st));
          res.end(body);
        } else {
          const full = job.embeddings ? embeddingsJson(job) : completionJson(job, newId());
          const body = full.slice(0, Math.max(5, full.length >> 1));
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-sim-account': st.headerName });
          res.end(body);
        }
        release(job);
        return;
      }
      case FAULT_ERROR_BODY:
        job.answered = true;
        if (job.stream) {
          res.writeHead(200, streamHeaders(st));
          res.end(`data: ${BODY_ERROR_200}\n\n`);
        } else {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY_ERROR_200), 'x-sim-account': st.headerName });
          res.end(BODY_ERROR_200);
        }
        release(job);
        return;
      case FAULT_CUT:
        sendStream(job, true);
        return;
      case FAULT_BAD_REQUEST:
        job.answered = true;
        sendJson(res, 400, BODY_BAD_REQUEST);
        release(job);
        return;
    }
  }

  // --- bodies -------------------------------------------------------------------

  function newId(): string {
    return 'chatcmpl-sim' + (nextId++).toString(36);
  }

  function buildReply(st: AccountState, model: string, messages: unknown[], maxTokens: number): Reply {
    let last = '';
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i] as { role?: unknown; content?: unknown } | null;
      if (m && typeof m === 'object' && m.role === 'user') {
        last = contentText(m.content);
        break;
      }
    }
    let echo = last.length > ECHO_CHARS * 4 ? last.slice(0, ECHO_CHARS * 4) : last;
    echo = echo.replace(/\s+/g, ' ').trim();
    if (echo.length > ECHO_CHARS) echo = echo.slice(0, ECHO_CHARS) + '...';
    if (echo === '') echo = '(no user message)';
    const cacheKey = model + '\u0000' + maxTokens + '\u0000' + echo;
    const hit = st.replyCache.get(cacheKey);
    if (hit) return hit;
    let content = `[${st.name}/${model}] ${echo}`;
    let tokens = estimateTokens(content);
    let finish = 'stop';
    if (tokens > maxTokens) {
      content = truncateToTokens(content, maxTokens);
      tokens = estimateTokens(content);
      finish = 'length';
    }
    const reply: Reply = { content, tokens, finish };
    if (st.replyCache.size >= 512) st.replyCache.clear();
    st.replyCache.set(cacheKey, reply);
    return reply;
  }

  function completionJson(job: Job, id: string): string {
    const r = job.reply;
    const p = job.promptTokens;
    return (
      `{"id":"${id}","object":"chat.completion","created":${nowSec()},"model":${JSON.stringify(job.model)},` +
      `"system_fingerprint":"fp_sim","choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(r.content)},"refusal":null},` +
      `"logprobs":null,"finish_reason":"${r.finish}"}],"usage":{"prompt_tokens":${p},"completion_tokens":${r.tokens},"total_tokens":${p + r.tokens}}}`
    );
  }

  function embeddingsJson(job: Job): string {
    const seed = fnv1a(job.model);
    let data = '';
    for (let i = 0; i < job.inputs; i++) {
      const r = mulberry32(seed + i);
      const v: number[] = [];
      for (let d = 0; d < EMBEDDING_DIMS; d++) v.push(Math.round((r() * 2 - 1) * 1e6) / 1e6);
      data += (i ? ',' : '') + `{"object":"embedding","index":${i},"embedding":[${v.join(',')}]}`;
    }
    return `{"object":"list","data":[${data}],"model":${JSON.stringify(job.model)},"usage":{"prompt_tokens":${job.promptTokens},"total_tokens":${job.promptTokens}}}`;
  }

  function completed(job: Job): void {
    const s = job.st.stats;
    s.completed++;
    s.promptTokens += job.promptTokens;
    s.completionTokens += job.reply.tokens;
  }

  function sendCompletion(job: Job): void {
    const body = completionJson(job, newId());
    job.answered = true;
    job.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-sim-account': job.st.headerName });
    job.res.end(body);
    completed(job);
    release(job);
  }

  function sendEmbeddings(job: Job): void {
    const body = embeddingsJson(job);
    job.answered = true;
    job.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-sim-account': job.st.headerName });
    job.res.end(body);
    completed(job);
    release(job);
  }

  function streamHeaders(st: AccountState): http.OutgoingHttpHeaders {
    return { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-sim-account': st.headerName };
  }

  function chunkLine(job: Job, id: string, created: number, delta: string, finish: string): string {
    return (
      `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(job.model)},` +
      `"system_fingerprint":"fp_sim","choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]}\n\n`
    );
  }

  /** The SSE lines of one streamed answer (the last is `data: [DONE]`). */
  function streamLines(job: Job): string[] {
    const id = newId();
    const created = nowSec();
    const lines: string[] = [chunkLine(job, id, created, '{"role":"assistant","content":""}', 'null')];
    const pieces = job.reply.content.match(/\s*\S{1,8}|\s+$/g) ?? [];
    for (const piece of pieces) lines.push(chunkLine(job, id, created, `{"content":${JSON.stringify(piece)}}`, 'null'));
    lines.push(chunkLine(job, id, created, '{}', `"${job.reply.finish}"`));
    if (job.includeUsage) {
      const p = job.promptTokens;
      const c = job.reply.tokens;
      lines.push(
        `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(job.model)},` +
          `"system_fingerprint":"fp_sim","choices":[],"usage":{"prompt_tokens":${p},"completion_tokens":${c},"total_tokens":${p + c}}}\n\n`,
      );
    }
    lines.push('data: [DONE]\n\n');
    return lines;
  }

  function sendStream(job: Job, cut: boolean): void {
    const { st, res } = job;
    let lines = streamLines(job);
    if (cut) {
      // the role chunk and up to two content chunks, never the end of the answer
      lines = lines.slice(0, Math.min(3, Math.max(1, lines.length - 3)));
    }
    res.writeHead(200, streamHeaders(st));
    const finishCut = (): void => {
      job.answered = true;
      job.socket.destroy();
      release(job);
    };
    if (st.chunkDelayMs <= 0) {
      if (cut) {
        res.write(lines.join(''), finishCut);
        job.timer = null;
      } else {
        job.answered = true;
        res.end(lines.join(''));
        completed(job);
        release(job);
      }
      return;
    }
    let i = 0;
    const step = (): void => {
      job.timer = null;
      if (job.released) return;
      if (i < lines.length - 1) {
        res.write(lines[i++]);
        job.timer = setTimeout(step, st.chunkDelayMs);
        return;
      }
      if (cut) {
        res.write(lines[i], finishCut);
        return;
      }
      job.answered = true;
      res.end(lines[i]);
      completed(job);
      release(job);
    };
    step();
  }

  // --- server -------------------------------------------------------------------

  const server = http.createServer({ noDelay: true, keepAlive: true }, onRequest);
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;
  server.requestTimeout = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => {
    socket.destroy();
  });

  return new Promise<ProviderSimulator>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | null = null;
      const sim: ProviderSimulator = {
        url: `http://${urlHost}:${port}/v1`,
        port,
        minuteMs,
        setFaults(key, faults) {
          const st = account(key);
          st.faults = validateFaults(faults);
          st.hasFaults = hasProbabilities(st.faults);
          st.down = !!st.faults.down;
        },
        setLatency(key, latencyMs, jitterMs) {
          const st = account(key);
          if (!(latencyMs >= 0) || (jitterMs !== undefined && !(jitterMs >= 0))) throw new RangeError('provider simulator: latency must be >= 0');
          st.latencyMs = latencyMs;
          st.jitterMs = jitterMs ?? 0;
        },
        setDown(key, down) {
          const st = account(key);
          st.down = !!down;
          st.faults = { ...st.faults, down: !!down };
        },
        setLimits(key, limits) {
          const st = account(key);
          if ('rpm' in limits) st.rpm = limitValue(limits.rpm, 'rpm');
          if ('tpm' in limits) st.tpm = limitValue(limits.tpm, 'tpm');
          if ('concurrency' in limits) st.concurrency = limitValue(limits.concurrency, 'concurrency');
        },
        stats(key) {
          return copyStats(account(key).stats);
        },
        totals() {
          const t = emptyStats();
          for (const st of accounts.values()) {
            const s = st.stats;
            t.requests += s.requests;
            t.completed += s.completed;
            t.errors += s.errors;
            t.rejected429 += s.rejected429;
            t.rpmViolations += s.rpmViolations;
            t.concurrencyViolations += s.concurrencyViolations;
            t.tpmViolations += s.tpmViolations;
            t.earlyRetries += s.earlyRetries;
            t.maxConcurrentSeen = Math.max(t.maxConcurrentSeen, s.maxConcurrentSeen);
            t.maxRequestsInWindow = Math.max(t.maxRequestsInWindow, s.maxRequestsInWindow);
            t.promptTokens += s.promptTokens;
            t.completionTokens += s.completionTokens;
            t.aborted += s.aborted;
            for (const [m, n] of Object.entries(s.byModel)) t.byModel[m] = (t.byModel[m] ?? 0) + n;
            for (const [m, n] of Object.entries(s.injected)) t.injected[m] = (t.injected[m] ?? 0) + n;
          }
          return t;
        },
        resetStats() {
          for (const st of accounts.values()) {
            st.stats = emptyStats();
            st.stats.maxConcurrentSeen = st.inFlight;
          }
        },
        resetLimits(key) {
          const list = key === undefined ? [...accounts.values()] : [account(key)];
          for (const st of list) {
            st.logTs = [];
            st.logTok = [];
            st.head = 0;
            st.tokSum = 0;
            st.retryUntil = -Infinity;
            st.retryFrom = -Infinity;
          }
        },
        inFlight(key) {
          return account(key).inFlight;
        },
        close() {
          if (!closing) {
            closing = new Promise<void>((done) => {
              server.close(() => done());
              for (const job of jobs) {
                if (job.timer) clearTimeout(job.timer);
                job.timer = null;
              }
              for (const s of sockets) s.destroy();
              sockets.clear();
              server.closeAllConnections?.();
            });
          }
          return closing;
        },
      };
      resolve(sim);
    });
  });
}

const NO_REPLY: Reply = { content: '', tokens: 0, finish: 'stop' };
const FAULT_NAMES = ['none', 'error5xx', 'rate429', 'hang', 'reset', 'malformed', 'errorBody', 'cutStream', 'badRequest'];

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

function noop(): void {
  /* errors of aborted client connections are expected */
}
