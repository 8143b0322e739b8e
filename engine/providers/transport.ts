/**
 * HTTP to an OpenAI-compatible API: one axios instance per account, keep-alive
 * agents, every status handled here (axios never throws for an HTTP answer, so
 * no axios error object with request headers is ever created for one).
 */
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance } from 'axios';
import { LlmError, classifyHttp, upstreamErrorInfo } from '../errors/classify';
import { redactText } from '../secrets/redact';
import type { RunControl } from '../limits/account-limiter';

export interface ChatMessage {
  role: string;
  content?: unknown;
  [key: string]: unknown;
}

export interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  [key: string]: unknown;
}

/** The parts of a chat completion the router reads; everything else is passed through. */
export interface ChatCompletion {
  id?: string;
  object?: string;
  model?: string;
  choices: Array<{ index?: number; message: ChatMessage; finish_reason?: string | null; [key: string]: unknown }>;
  usage?: ChatUsage;
  [key: string]: unknown;
}

export interface HttpClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** extra headers sent with every request */
  headers?: Record<string, string>;
  /** upper bound of sockets per host (default: unlimited; the limiter bounds concurrency) */
  maxSockets?: number;
  /**
   * Checked when a NEW connection is established, before the request on it is
   * written: true = drop the connection, nothing is sent (the request fails with
   * a NotSentError). Used so that a pause that began while the connection was
   * being set up still keeps the request away from the account.
   */
  holdNewConnections?: () => boolean;
}

/** The request was never written to the upstream. */
export class NotSentError extends Error {
  readonly code = 'ERR_LLM_NOT_SENT';
  constructor(message = 'request not sent: the account was paused while connecting') {
    super(message);
    this.name = 'NotSentError';
  }
}

export function isNotSent(err: unknown): boolean {
  if (err instanceof NotSentError) return true;
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  return !!e && (e.code === 'ERR_LLM_NOT_SENT' || e.cause?.code === 'ERR_LLM_NOT_SENT');
}

type Guard = () => boolean;

/**
 * Node writes a request's bytes to a new socket right after it connects. A
 * 'connect' listener added when the socket is created runs before that write,
 * so the guard can still drop the connection.
 */
function guardSocket<S extends { once: (e: string, l: () => void) => unknown; destroy: (e?: Error) => unknown }>(socket: S, guard: Guard | undefined): S {
  if (guard && socket && typeof socket.once === 'function') {
    socket.once('connect', () => {
      if (guard()) socket.destroy(new NotSentError());
    });
  }
  return socket;
}

class GuardedHttpAgent extends http.Agent {
  constructor(
    opts: http.AgentOptions,
    private readonly guard?: Guard,
  ) {
    super(opts);
  }

  override createConnection(options: any, cb?: any): any {
    return guardSocket((http.Agent.prototype as any).createConnection.call(this, options, cb), this.guard);
  }
}

class GuardedHttpsAgent extends https.Agent {
  constructor(
    opts: https.AgentOptions,
    private readonly guard?: Guard,
  ) {
    super(opts);
  }

  override createConnection(options: any, cb?: any): any {
    return guardSocket((https.Agent.prototype as any).createConnection.call(this, options, cb), this.guard);
  }
}

export interface HttpClient {
  axios: AxiosInstance;
  /** closes idle keep-alive sockets */
  destroy(): void;
}

/** Normalises a base URL: trims, drops trailing slashes, requires http(s). */
export function normalizeBaseUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new Error('base URL is required');
  const s = raw.trim().replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error(`base URL "${redactText(s, [])}" is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('base URL must start with http:// or https://');
  if (u.username || u.password) throw new Error('base URL must not contain credentials; put the API key in the credentials');
  return s;
}

export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const baseURL = normalizeBaseUrl(opts.baseUrl);
  const agentOpts = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: opts.maxSockets ?? Infinity, maxFreeSockets: 256, scheduling: 'lifo' as const };
  const httpAgent = new GuardedHttpAgent(agentOpts, opts.holdNewConnections);
  const httpsAgent = new GuardedHttpsAgent(agentOpts, opts.holdNewConnections);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json', ...(opts.headers ?? {}) };
  if (opts.apiKey) headers.Authorization = `Bearer ${opts.apiKey}`;
  const instance = axios.create({
    baseURL,
    headers,
    httpAgent,
    httpsAgent,
    timeout: 0,
    maxRedirects: 0,
    responseType: 'text',
    transformResponse: [(d: unknown) => d],
    validateStatus: () => true,
    maxContentLength: 64 * 1024 * 1024,
    maxBodyLength: 64 * 1024 * 1024,
  });
  return {
    axios: instance,
    destroy() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** Everything a send function gets for one attempt. */
export interface SendContext {
  http: AxiosInstance;
  /** account name (for messages) */
  account: string;
  /** the model as the flow names it */
  model: string;
  /** the model name sent upstream (after mapping) */
  upstreamModel: string;
  /** request body, `model` already set to upstreamModel */
  body: Record<string, unknown>;
  /** aborted on timeout, on the caller's abort and when the account closes */
  signal: AbortSignal;
  timeoutMs: number;
  /** the limiter slot: keepSlotUntil for streams, chargeTokens for real usage */
  control: RunControl;
  /** credentials to redact from any text */
  secrets: string[];
}

export type SendFn<R> = (ctx: SendContext) => Promise<R>;

/** Parses a 2xx body as a chat completion, or throws a classified error. */
export function parseChatCompletion(text: unknown, secrets: string[] = []): ChatCompletion {
  let obj: unknown = text;
  if (typeof text === 'string') {
    try {
      obj = JSON.parse(text);
    } catch {
      throw new LlmError({ code: 'malformed_response', message: 'the upstream answered with a body that is not JSON' });
    }
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new LlmError({ code: 'malformed_response', message: 'the upstream answered with a body that is not a JSON object' });
  }
  const rec = obj as Record<string, unknown>;
  if (rec.error !== undefined && rec.error !== null) {
    const info = upstreamErrorInfo(rec);
    const msg = info.message ? `: ${redactText(info.message, secrets).slice(0, 300)}` : '';
    throw new LlmError({ code: 'upstream_error', message: `the upstream answered 200 with an error${msg}` });
  }
  const choices = rec.choices;
  if (!Array.isArray(choices) || choices.length === 0) {
    throw new LlmError({ code: 'malformed_response', message: 'the upstream answer has no choices' });
  }
  const first = choices[0] as Record<string, unknown> | null;
  if (!first || typeof first !== 'object' || !first.message || typeof first.message !== 'object') {
    throw new LlmError({ code: 'malformed_response', message: 'the upstream answer has no message' });
  }
  return rec as unknown as ChatCompletion;
}

/** The assistant text of a completion ('' when it only has tool calls). */
export function completionText(c: ChatCompletion): string {
  const content = c.choices[0]?.message?.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .join('');
  }
  return '';
}

/** The default send: one non-streaming chat completion. */
export async function sendChatCompletion(ctx: SendContext): Promise<ChatCompletion> {
  const res = await ctx.http.post('chat/completions', JSON.stringify(ctx.body), { signal: ctx.signal });
  if (res.status >= 200 && res.status < 300) {
    let data: unknown = res.data;
    // An upstream that echoes the key must not put it into a message.
    if (typeof data === 'string' && ctx.secrets.some((s) => s.length >= 4 && (data as string).includes(s))) data = redactText(data, ctx.secrets);
    const parsed = parseChatCompletion(data, ctx.secrets);
    const total = parsed.usage?.total_tokens;
    if (typeof total === 'number') ctx.control.chargeTokens(total);
    return parsed;
  }
  throw classifyHttp(res.status, res.headers as Record<string, unknown>, res.data, ctx.secrets);
}
