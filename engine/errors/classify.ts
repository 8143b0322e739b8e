/**
 * What went wrong with one call to an OpenAI-compatible upstream, and what the
 * router should do about it: retry the same account later, move to the next
 * candidate, or give up on the request because no candidate can fix it.
 *
 * Errors built here never carry request headers, configs or raw bodies: only a
 * short, redacted message, a code and the HTTP status.
 */
import { redactText } from '../secrets/redact';

export type LlmErrorCode =
  /** 429 from the upstream */
  | 'rate_limited'
  /** 5xx */
  | 'server_error'
  /** the attempt's timeout passed */
  | 'timeout'
  /** the connection was reset or closed without an answer */
  | 'connection_reset'
  /** connection refused / DNS / unreachable */
  | 'unreachable'
  /** 2xx whose body is not a chat completion */
  | 'malformed_response'
  /** 2xx carrying {"error": ...} */
  | 'upstream_error'
  /** the prompt does not fit the model's context window */
  | 'context_length'
  /** 400/413/422: the request itself is wrong for every candidate */
  | 'invalid_request'
  /** 401/403 */
  | 'auth'
  /** 404 model or URL not found */
  | 'not_found'
  /** other 4xx */
  | 'client_error'
  /** the caller aborted (node closed, redeploy) */
  | 'aborted';

export interface LlmErrorInit {
  code: LlmErrorCode;
  message: string;
  status?: number;
  /** server-announced wait before the next request, in ms */
  retryAfterMs?: number;
}

const RETRYABLE: ReadonlySet<LlmErrorCode> = new Set<LlmErrorCode>([
  'rate_limited',
  'server_error',
  'timeout',
  'connection_reset',
  'unreachable',
  'malformed_response',
  'upstream_error',
]);

/** Failures that say the account+model is unhealthy (they count towards its circuit breaker). */
const BREAKER_FAILURE: ReadonlySet<LlmErrorCode> = new Set<LlmErrorCode>([
  'server_error',
  'timeout',
  'connection_reset',
  'unreachable',
  'malformed_response',
  'upstream_error',
  'auth',
  'not_found',
]);

export class LlmError extends Error {
  readonly code: LlmErrorCode;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(init: LlmErrorInit) {
    super(init.message);
    this.name = 'LlmError';
    this.code = init.code;
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    // Never a stack that could quote something else; the message is already safe.
    this.stack = `LlmError: ${this.message}`;
  }

  /** Worth trying the same account again (after a backoff / Retry-After). */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  /** Counts as a failure of the account+model's circuit breaker. */
  get breakerFailure(): boolean {
    return BREAKER_FAILURE.has(this.code);
  }

  /** No candidate can succeed with this request: stop trying. */
  get fatal(): boolean {
    return this.code === 'invalid_request';
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.status !== undefined) out.status = this.status;
    if (this.retryAfterMs !== undefined) out.retryAfterMs = this.retryAfterMs;
    return out;
  }
}

export function isLlmError(e: unknown): e is LlmError {
  return e instanceof LlmError;
}

type HeaderBag = Record<string, unknown> | { get?: (name: string) => unknown } | undefined | null;

function header(headers: HeaderBag, name: string): string | undefined {
  if (!headers) return undefined;
  let v: unknown;
  const getter = (headers as { get?: unknown }).get;
  if (typeof getter === 'function') {
    try {
      v = (getter as (n: string) => unknown).call(headers, name);
    } catch {
      v = undefined;
    }
  }
  if (v === undefined || v === null) v = (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()];
  if (Array.isArray(v)) v = v[0];
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' ? v.trim() : undefined;
}

/**
 * The wait a response asks for, in ms: `retry-after-ms`, `x-ms-retry-after-ms`,
 * then `retry-after` as seconds or an HTTP date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: HeaderBag, now: number = Date.now()): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = header(headers, name);
    if (v !== undefined && v !== '') {
      const n = Number(v);
      if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
    }
  }
  const ra = header(headers, 'retry-after');
  if (ra === undefined || ra === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Math.ceil(Number(ra) * 1000);
  const date = Date.parse(ra);
  if (Number.isFinite(date)) return Math.max(0, date - now);
  return undefined;
}

const CONTEXT_PATTERNS =
  /context[_ ]length|context window|maximum context|too many tokens|prompt is too long|reduce the length|input is too long|exceeds the (model'?s )?(maximum|max)|token limit/i;

const MAX_MESSAGE = 300;

function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > MAX_MESSAGE ? `${one.slice(0, MAX_MESSAGE)}...` : one;
}

/** The upstream's error message/code/type from an OpenAI-style body, if any. */
export function upstreamErrorInfo(body: unknown): { message?: string; code?: string; type?: string } {
  let obj: unknown = body;
  if (typeof body === 'string') {
    const t = body.trim();
    if (t.startsWith('{')) {
      try {
        obj = JSON.parse(t);
      } catch {
        return { message: t };
      }
    } else {
      return t ? { message: t } : {};
    }
  }
  if (!obj || typeof obj !== 'object') return {};
  const rec = obj as Record<string, unknown>;
  const err = rec.error;
  if (typeof err === 'string') return { message: err };
  const src = (err && typeof err === 'object' ? err : rec) as Record<string, unknown>;
  const out: { message?: string; code?: string; type?: string } = {};
  if (typeof src.message === 'string') out.message = src.message;
  if (typeof src.code === 'string' || typeof src.code === 'number') out.code = String(src.code);
  if (typeof src.type === 'string') out.type = src.type;
  return out;
}

/**
 * Classifies a non-2xx HTTP answer. `secrets` are redacted from the message
 * (upstreams sometimes quote the key they were given).
 */
export function classifyHttp(status: number, headers: HeaderBag, body: unknown, secrets: Array<string | undefined> = [], now = Date.now()): LlmError {
  const info = upstreamErrorInfo(body);
  const detail = info.message ? `: ${clip(redactText(info.message, secrets))}` : '';
  const tag = info.code ? ` (${clip(redactText(info.code, secrets))})` : '';
  if (status === 429) {
    return new LlmError({ code: 'rate_limited', status, message: `HTTP 429 rate limited${tag}${detail}`, retryAfterMs: parseRetryAfter(headers, now) });
  }
  if (status >= 500) {
    return new LlmError({ code: 'server_error', status, message: `HTTP ${status} server error${tag}${detail}`, retryAfterMs: parseRetryAfter(headers, now) });
  }
  const isContext =
    info.code === 'context_length_exceeded' || info.code === 'string_above_max_length' || (status === 400 && CONTEXT_PATTERNS.test(info.message ?? ''));
  if (isContext || status === 413) {
    // 413 with a context message is a context error; a bare 413 is a request too large for anyone
    if (isContext) return new LlmError({ code: 'context_length', status, message: `HTTP ${status} context length exceeded${detail}` });
    return new LlmError({ code: 'invalid_request', status, message: `HTTP 413 request too large${detail}` });
  }
  if (status === 400 || status === 422) {
    return new LlmError({ code: 'invalid_request', status, message: `HTTP ${status} invalid request${tag}${detail}` });
  }
  if (status === 401 || status === 403) return new LlmError({ code: 'auth', status, message: `HTTP ${status} not authorised${tag}${detail}` });
  if (status === 404) return new LlmError({ code: 'not_found', status, message: `HTTP 404 not found${tag}${detail}` });
  if (status === 408 || status === 409 || status === 425) {
    return new LlmError({ code: status === 408 ? 'timeout' : 'server_error', status, message: `HTTP ${status}${tag}${detail}`, retryAfterMs: parseRetryAfter(headers, now) });
  }
  return new LlmError({ code: 'client_error', status, message: `HTTP ${status}${tag}${detail}` });
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

/**
 * Classifies an exception from the HTTP client (no HTTP answer): resets, refusals,
 * timeouts, aborts. `timedOut` / `aborted` say which of our own signals fired.
 */
export function classifyException(err: unknown, opts: { timedOut?: boolean; aborted?: boolean; timeoutMs?: number; secrets?: Array<string | undefined> } = {}): LlmError {
  if (err instanceof LlmError) return err;
  if (opts.timedOut) return new LlmError({ code: 'timeout', message: `no answer within ${opts.timeoutMs ?? '?'} ms` });
  if (opts.aborted) return new LlmError({ code: 'aborted', message: 'request aborted' });
  const e = (err && typeof err === 'object' ? err : {}) as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? (e.cause.code as string) : '';
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const msg = clip(redactText(raw, opts.secrets ?? []));
  if (code === 'ERR_CANCELED') return new LlmError({ code: 'aborted', message: 'request aborted' });
  if (TIMEOUT_CODES.has(code)) return new LlmError({ code: 'timeout', message: `timed out (${code})` });
  if (UNREACHABLE_CODES.has(code)) return new LlmError({ code: 'unreachable', message: `cannot connect (${code})` });
  if (RESET_CODES.has(code) || /socket hang up|ECONNRESET|premature close|aborted/i.test(raw)) {
    return new LlmError({ code: 'connection_reset', message: `connection closed without an answer${code ? ` (${code})` : ''}` });
  }
  return new LlmError({ code: 'unreachable', message: `request failed${code ? ` (${code})` : ''}: ${msg}` });
}
