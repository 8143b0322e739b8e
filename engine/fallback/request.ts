/**
 * Reads msg.payload for llm-call-with-fallback: an OpenAI chat request body, or a
 * string sent as one user message. Bad input gets a clear error before anything
 * is sent anywhere.
 */
import { parseRequest } from '../tiers/request';
import type { RouteCandidate } from '../routing/types';

export class RequestInputError extends Error {
  readonly code = 'invalid_input';
  constructor(message: string) {
    super(message);
    this.name = 'RequestInputError';
  }
}

const MAX_STRING_CHARS = 8 * 1024 * 1024;
const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'function', 'developer']);

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export interface ChatRequest {
  /** the body to send (a shallow copy; `model` is set per candidate) */
  body: Record<string, unknown>;
  /** true when the caller asked for `stream: true` */
  wantsStream: boolean;
}

/**
 * Validates and copies a chat request. A string becomes `{messages: [{role: 'user', content}]}`.
 * Throws RequestInputError with what is wrong and what is expected.
 */
export function normalizeChatRequest(payload: unknown): ChatRequest {
  if (typeof payload === 'string') {
    if (payload.trim() === '') throw new RequestInputError('msg.payload is an empty string: expected a prompt or an OpenAI chat request body');
    if (payload.length > MAX_STRING_CHARS) throw new RequestInputError(`msg.payload is too long (${payload.length} characters, at most ${MAX_STRING_CHARS})`);
    return { body: { messages: [{ role: 'user', content: payload }] }, wantsStream: false };
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload) || Buffer.isBuffer(payload)) {
    throw new RequestInputError(`msg.payload is ${kind(payload)}: expected a prompt string or an OpenAI chat request body ({messages: [...]})`);
  }
  const src = payload as Record<string, unknown>;
  const messages = src.messages;
  if (!Array.isArray(messages)) {
    throw new RequestInputError(`msg.payload.messages is ${messages === undefined ? 'missing' : kind(messages)}: expected an array of {role, content}`);
  }
  if (messages.length === 0) throw new RequestInputError('msg.payload.messages is empty: expected at least one message');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Record<string, unknown> | null;
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw new RequestInputError(`msg.payload.messages[${i}] is ${kind(m)}: expected {role, content}`);
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) {
      throw new RequestInputError(`msg.payload.messages[${i}].role must be one of ${[...ROLES].join(', ')}`);
    }
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) {
      throw new RequestInputError(`msg.payload.messages[${i}].content is ${kind(c)}: expected a string or an array of content parts`);
    }
  }
  for (const k of ['max_tokens', 'max_completion_tokens', 'n'] as const) {
    const v = src[k];
    if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isInteger(v) && v > 0)) {
      throw new RequestInputError(`msg.payload.${k} must be a positive integer`);
    }
  }
  for (const k of ['temperature', 'top_p'] as const) {
    const v = src[k];
    if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isFinite(v))) throw new RequestInputError(`msg.payload.${k} must be a number`);
  }
  const body: Record<string, unknown> = { ...src };
  const wantsStream = body.stream === true;
  // Non-streaming here; a streaming send restores these.
  delete body.stream;
  delete body.stream_options;
  return { body, wantsStream };
}

/** Estimated prompt tokens (CJK-aware), for context windows and tokens-per-minute limits. */
export function estimatePromptTokens(body: Record<string, unknown>): number {
  try {
    return parseRequest(body).estimatedTokens;
  } catch {
    return 0;
  }
}

/** The completion tokens a request may use at most, when it says (max_tokens / max_completion_tokens). */
export function requestedCompletionTokens(body: Record<string, unknown>): number | undefined {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === 'number' && v > 0 ? v : undefined;
}

/** A candidate with the optional routing hints a route entry may carry. */
export interface RouteEntry extends RouteCandidate {
  /** weighted-round-robin weight (default 1; 0 = only as a fallback) */
  weight?: number;
  /** USD per 1M prompt tokens (overrides the provider's price for this model) */
  priceIn?: number;
  /** USD per 1M completion tokens */
  priceOut?: number;
}

function optNumber(r: Record<string, unknown>, k: string, where: string): number | undefined {
  const v = r[k];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new RequestInputError(`${where}.${k} must be a number >= 0`);
  return n;
}

/**
 * Reads a candidate list (msg.route or a configured chain): an array of
 * {provider, model, weight?, priceIn?, priceOut?}. Throws RequestInputError on a wrong shape.
 */
export function readRoute(route: unknown, where = 'msg.route'): RouteEntry[] {
  if (!Array.isArray(route)) throw new RequestInputError(`${where} is ${kind(route)}: expected an array of {provider, model}`);
  const out: RouteEntry[] = [];
  route.forEach((c: unknown, i) => {
    const r = (c && typeof c === 'object' ? c : null) as Record<string, unknown> | null;
    const provider = r && typeof r.provider === 'string' ? r.provider.trim() : '';
    const model = r && typeof r.model === 'string' ? r.model.trim() : '';
    if (!r || !provider || !model) throw new RequestInputError(`${where}[${i}] needs a provider (llm-provider id or name) and a model`);
    const e: RouteEntry = { provider, model };
    const w = optNumber(r, 'weight', `${where}[${i}]`);
    if (w !== undefined) e.weight = w;
    const pin = optNumber(r, 'priceIn', `${where}[${i}]`);
    const pout = optNumber(r, 'priceOut', `${where}[${i}]`);
    if (pin !== undefined) e.priceIn = pin;
    if (pout !== undefined) e.priceOut = pout;
    out.push(e);
  });
  return out;
}

/** msg.priority: a number (higher first) or 'high' / 'normal' / 'low'. */
export function readPriority(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'high') return 10;
    if (s === 'low') return -10;
    if (s === 'normal' || s === '') return 0;
    const n = Number(s);
    if (Number.isFinite(n)) return n;
  }
  return 0;
}
