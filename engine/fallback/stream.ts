/**
 * Streaming chat completions (`stream: true`) over the executor's per-request
 * `send`: the send function posts the request with `stream: true` (and
 * `stream_options.include_usage`), reads the server-sent events until the FIRST
 * chunk arrives, and only then resolves with a ChatStream. Everything that goes
 * wrong before that first chunk (an HTTP error, a reset, an `{"error": ...}`
 * event, a stream that ends with nothing, a malformed event) is an ordinary
 * failed attempt, so the executor retries or moves to the next candidate:
 * failover happens only before the first byte reaches the caller.
 *
 * After the first chunk the stream belongs to the caller: `consume(onChunk)`
 * delivers every chunk (the first one included) with backpressure (return a
 * promise to hold the upstream), and resolves with a StreamSummary once the
 * stream ended, was cut, stalled longer than `idleTimeoutMs`, or was aborted.
 * It never rejects. The account's concurrency slot stays taken until then
 * (RunControl.keepSlotUntil), and the real usage (from the final usage chunk)
 * is charged to the tokens-per-minute limit and reported to the executor
 * through DEFERRED_COMPLETION, so the ledger records it when the stream ends.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { LlmError, classifyHttp, upstreamErrorInfo } from '../errors/classify';
import { redactText } from '../secrets/redact';
import { parseChatCompletion, type ChatCompletion, type ChatUsage, type SendContext, type SendFn } from '../providers/transport';
import { DEFERRED_COMPLETION, type DeferredCompletion, type Usage } from './executor';

/** One `chat.completion.chunk` as OpenAI-compatible servers send it. */
export interface ChatCompletionChunk {
  id?: string;
  object?: string;
  created?: number;
  model?: string;
  choices?: Array<{
    index?: number;
    delta?: { role?: string; content?: string | null; reasoning_content?: string | null; tool_calls?: ToolCallDelta[]; [key: string]: unknown };
    finish_reason?: string | null;
    [key: string]: unknown;
  }>;
  usage?: ChatUsage | null;
  [key: string]: unknown;
}

interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

export interface StreamSummary {
  /** the stream ended normally ([DONE], or the end of the body after a finish_reason) */
  ok: boolean;
  /** the assistant text (choice 0), as far as it came */
  text: string;
  /** chunks delivered */
  chunks: number;
  /** from the final usage chunk, when the server sent one */
  usage: Usage | null;
  finishReason: string | null;
  /** the chunks assembled into one chat.completion (what a non-streaming call would have returned) */
  completion: ChatCompletion;
  /** why the stream did not end normally */
  error?: { code: string; message: string };
  /** ended by abort() (the caller went away, the node closed) */
  aborted: boolean;
  /** ms from the first chunk to the end */
  durationMs: number;
}

export interface StreamSendOptions {
  /** longest silence between two chunks once the stream started (default: the attempt's timeout) */
  idleTimeoutMs?: number;
  /** how long a started stream may wait for consume() before it is aborted (default: idle timeout) */
  unconsumedTimeoutMs?: number;
}

/** The raw event source of a stream: the next data event, 'done' ([DONE]) or 'end' (EOF). */
interface EventSource {
  next(timeoutMs: number): Promise<{ kind: 'data'; data: string; event: string } | { kind: 'done' } | { kind: 'end' }>;
  destroy(): void;
}

const MAX_LINE = 4 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

function toUsage(u: ChatUsage | null | undefined): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const p = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0;
  const c = typeof u.completion_tokens === 'number' ? u.completion_tokens : 0;
  const t = typeof u.total_tokens === 'number' ? u.total_tokens : p + c;
  return { promptTokens: p, completionTokens: c, totalTokens: t };
}

/** Server-sent events from a byte stream (data/event fields; comments and other fields ignored). */
class SseEventSource implements EventSource {
  private readonly it: AsyncIterator<Buffer | string>;
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private data: string[] = [];
  private event = '';
  private readonly ready: Array<{ data: string; event: string }> = [];
  private eof = false;

  constructor(private readonly stream: Readable) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  }

  async next(timeoutMs: number): Promise<{ kind: 'data'; data: string; event: string } | { kind: 'done' } | { kind: 'end' }> {
    for (;;) {
      const ev = this.ready.shift();
      if (ev) {
        if (ev.data.trim() === '[DONE]') return { kind: 'done' };
        return { kind: 'data', data: ev.data, event: ev.event };
      }
      if (this.eof) return { kind: 'end' };
      const r = await this.read(timeoutMs);
      if (r === null) {
        this.eof = true;
        this.feed(this.decoder.end() + '\n\n');
      } else this.feed(typeof r === 'string' ? r : this.decoder.write(r));
    }
  }

  destroy(): void {
    if (!this.stream.destroyed) this.stream.destroy();
  }

  private read(timeoutMs: number): Promise<Buffer | string | null> {
    const p = this.it.next().then((r) => (r.done ? null : (r.value as Buffer | string)));
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) return p;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.destroy();
        p.catch(() => undefined);
        reject(new LlmError({ code: 'timeout', message: `the stream sent nothing for ${timeoutMs} ms` }));
      }, timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private feed(text: string): void {
    this.buf += text;
    let start = 0;
    for (;;) {
      const nl = this.buf.indexOf('\n', start);
      if (nl < 0) break;
      let line = this.buf.slice(start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (this.data.length > 0) this.ready.push({ data: this.data.join('\n'), event: this.event });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.charCodeAt(0) === 58 /* ':' */) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
    }
    this.buf = start > 0 ? this.buf.slice(start) : this.buf;
    if (this.buf.length > MAX_LINE) {
      this.buf = '';
      throw new LlmError({ code: 'malformed_response', message: 'the stream sent a line longer than 4 MiB' });
    }
  }
}

/** A complete (non-streamed) answer replayed as chunks: for servers that ignore `stream: true`. */
class ReplayEventSource implements EventSource {
  private i = 0;
  constructor(private readonly events: string[]) {}
  next(): Promise<{ kind: 'data'; data: string; event: string } | { kind: 'done' }> {
    if (this.i < this.events.length) return Promise.resolve({ kind: 'data', data: this.events[this.i++], event: '' });
    return Promise.resolve({ kind: 'done' });
  }
  destroy(): void {
    this.i = this.events.length;
  }
}

/** The chunks a non-streaming completion stands for (role + content, finish, usage). */
export function completionToChunks(c: ChatCompletion): ChatCompletionChunk[] {
  const base = { id: c.id, object: 'chat.completion.chunk', created: typeof c.created === 'number' ? c.created : Math.floor(Date.now() / 1000), model: c.model };
  const out: ChatCompletionChunk[] = [];
  const choices = Array.isArray(c.choices) ? c.choices : [];
  out.push({
    ...base,
    choices: choices.map((ch, i) => {
      const { role, content, ...rest } = ch.message ?? { role: 'assistant' };
      return { index: ch.index ?? i, delta: { role: role ?? 'assistant', content: typeof content === 'string' ? content : '', ...rest }, finish_reason: null };
    }),
  });
  out.push({ ...base, choices: choices.map((ch, i) => ({ index: ch.index ?? i, delta: {}, finish_reason: ch.finish_reason ?? 'stop' })) });
  if (c.usage) out.push({ ...base, choices: [], usage: c.usage });
  return out;
}

/** Assembles chunks into one chat.completion (choice 0's text, tool calls, finish reason, usage). */
class Assembler {
  id: string | undefined;
  model: string | undefined;
  created: number | undefined;
  fingerprint: unknown;
  role = 'assistant';
  text = '';
  reasoning = '';
  finishReason: string | null = null;
  usage: ChatUsage | null = null;
  private readonly tools: Array<{ id?: string; type: string; function: { name: string; arguments: string } }> = [];

  add(ch: ChatCompletionChunk): string {
    if (this.id === undefined && typeof ch.id === 'string') this.id = ch.id;
    if (this.model === undefined && typeof ch.model === 'string') this.model = ch.model;
    if (this.created === undefined && typeof ch.created === 'number') this.created = ch.created;
    if (this.fingerprint === undefined && ch.system_fingerprint !== undefined) this.fingerprint = ch.system_fingerprint;
    if (ch.usage && typeof ch.usage === 'object') this.usage = ch.usage;
    let delta = '';
    const choices = Array.isArray(ch.choices) ? ch.choices : [];
    for (const c of choices) {
      if (!c || (c.index ?? 0) !== 0) continue;
      const d = c.delta;
      if (d && typeof d === 'object') {
        if (typeof d.role === 'string' && d.role) this.role = d.role;
        if (typeof d.content === 'string') {
          this.text += d.content;
          delta += d.content;
        }
        if (typeof d.reasoning_content === 'string') this.reasoning += d.reasoning_content;
        if (Array.isArray(d.tool_calls)) {
          for (const t of d.tool_calls) {
            if (!t || typeof t !== 'object') continue;
            const i = typeof t.index === 'number' ? t.index : this.tools.length;
            const cur = (this.tools[i] ??= { type: 'function', function: { name: '', arguments: '' } });
            if (typeof t.id === 'string') cur.id = t.id;
            if (typeof t.type === 'string') cur.type = t.type;
            if (t.function && typeof t.function === 'object') {
              if (typeof t.function.name === 'string') cur.function.name += t.function.name;
              if (typeof t.function.arguments === 'string') cur.function.arguments += t.function.arguments;
            }
          }
        }
      }
      if (typeof c.finish_reason === 'string' && c.finish_reason) this.finishReason = c.finish_reason;
    }
    return delta;
  }

  completion(): ChatCompletion {
    const message: ChatCompletion['choices'][number]['message'] = { role: this.role, content: this.text };
    if (this.reasoning) message.reasoning_content = this.reasoning;
    const tools = this.tools.filter(Boolean);
    if (tools.length > 0) message.tool_calls = tools;
    const out: ChatCompletion = {
      id: this.id,
      object: 'chat.completion',
      created: this.created ?? Math.floor(Date.now() / 1000),
      model: this.model,
      choices: [{ index: 0, message, finish_reason: this.finishReason }],
    };
    if (this.fingerprint !== undefined) out.system_fingerprint = this.fingerprint;
    if (this.usage) out.usage = this.usage;
    return out;
  }
}

function parseChunk(data: string, event: string, secrets: string[]): ChatCompletionChunk {
  let obj: unknown;
  try {
    obj = JSON.parse(data);
  } catch {
    throw new LlmError({ code: 'malformed_response', message: 'the stream sent an event that is not JSON' });
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new LlmError({ code: 'malformed_response', message: 'the stream sent an event that is not a JSON object' });
  const rec = obj as Record<string, unknown>;
  if ((rec.error !== undefined && rec.error !== null) || event === 'error') {
    const info = upstreamErrorInfo(rec);
    const msg = info.message ? `: ${redactText(info.message, secrets).slice(0, 300)}` : '';
    throw new LlmError({ code: 'upstream_error', message: `the stream carried an error${msg}` });
  }
  return rec as ChatCompletionChunk;
}

/**
 * A started stream: its first chunk has arrived. Consume it once with consume();
 * abort() ends it early (the summary then says aborted).
 */
export class ChatStream {
  readonly first: ChatCompletionChunk;
  readonly account: string;
  readonly [DEFERRED_COMPLETION]: Promise<DeferredCompletion>;
  private readonly source: EventSource;
  private readonly idleMs: number;
  private readonly secrets: string[];
  private readonly asm = new Assembler();
  private readonly resolveEnd: (d: DeferredCompletion) => void;
  private readonly onUsage: (u: Usage) => void;
  private consumed = false;
  private ended = false;
  private abortReason: string | null = null;
  private unconsumedTimer: NodeJS.Timeout | null = null;
  private finalSummary: Promise<StreamSummary> | null = null;
  private readonly t0 = performance.now();

  constructor(init: {
    first: ChatCompletionChunk;
    source: EventSource;
    account: string;
    idleMs: number;
    unconsumedMs: number;
    secrets: string[];
    onUsage: (u: Usage) => void;
  }) {
    this.first = init.first;
    this.source = init.source;
    this.account = init.account;
    this.idleMs = init.idleMs;
    this.secrets = init.secrets;
    this.onUsage = init.onUsage;
    let resolveEnd!: (d: DeferredCompletion) => void;
    this[DEFERRED_COMPLETION] = new Promise<DeferredCompletion>((r) => (resolveEnd = r));
    this.resolveEnd = resolveEnd;
    if (init.unconsumedMs > 0 && Number.isFinite(init.unconsumedMs)) {
      this.unconsumedTimer = setTimeout(() => {
        this.unconsumedTimer = null;
        if (!this.consumed) {
          this.abort('nobody read the stream');
          void this.consume(() => undefined);
        }
      }, init.unconsumedMs);
      this.unconsumedTimer.unref?.();
    }
  }

  /** Whether the stream is over (ended, cut, aborted). */
  get done(): boolean {
    return this.ended;
  }

  /** Ends the stream now; a running consume() resolves with aborted: true. */
  abort(reason = 'aborted'): void {
    if (this.ended || this.abortReason !== null) return;
    this.abortReason = reason;
    this.source.destroy();
  }

  /**
   * Delivers every chunk (the first one included) to `onChunk`, in order; a
   * returned promise holds the upstream until it settles. Resolves once the
   * stream is over; never rejects. A second call returns the same summary.
   */
  consume(onChunk: (chunk: ChatCompletionChunk, delta: string, index: number) => void | Promise<void>): Promise<StreamSummary> {
    if (this.finalSummary) return this.finalSummary;
    this.consumed = true;
    if (this.unconsumedTimer) clearTimeout(this.unconsumedTimer);
    this.unconsumedTimer = null;
    this.finalSummary = this.run(onChunk);
    return this.finalSummary;
  }

  private async run(onChunk: (chunk: ChatCompletionChunk, delta: string, index: number) => void | Promise<void>): Promise<StreamSummary> {
    let n = 0;
    let sawDone = false;
    let error: { code: string; message: string } | undefined;
    const deliver = async (ch: ChatCompletionChunk): Promise<void> => {
      const delta = this.asm.add(ch);
      if (ch.usage && typeof ch.usage === 'object') {
        const u = toUsage(ch.usage);
        if (u) this.onUsage(u);
      }
      const r = onChunk(ch, delta, n++);
      if (r && typeof (r as Promise<void>).then === 'function') await r;
    };
    try {
      if (this.abortReason === null) await deliver(this.first);
      while (this.abortReason === null) {
        const ev = await this.source.next(this.idleMs);
        if (ev.kind === 'done') {
          sawDone = true;
          break;
        }
        if (ev.kind === 'end') break;
        await deliver(parseChunk(ev.data, ev.event, this.secrets));
      }
    } catch (e) {
      if (this.abortReason === null) {
        const le = e instanceof LlmError ? e : null;
        error = {
          code: le?.code ?? 'connection_reset',
          message: le?.message ?? `the stream broke off: ${redactText(String((e as Error)?.message ?? e), this.secrets).slice(0, 200)}`,
        };
      }
    } finally {
      this.source.destroy();
    }
    const aborted = this.abortReason !== null;
    if (aborted) error = { code: 'aborted', message: `stream aborted: ${this.abortReason}` };
    const finished = sawDone || (!aborted && !error && this.asm.finishReason !== null);
    if (!finished && !error) error = { code: 'connection_reset', message: 'the stream ended before it was complete' };
    this.ended = true;
    const usage = toUsage(this.asm.usage);
    const summary: StreamSummary = {
      ok: finished && !error,
      text: this.asm.text,
      chunks: n,
      usage,
      finishReason: this.asm.finishReason,
      completion: this.asm.completion(),
      aborted,
      durationMs: Math.round((performance.now() - this.t0) * 100) / 100,
    };
    if (error && !summary.ok) summary.error = error;
    this.resolveEnd({ ok: summary.ok, usage, ...(summary.error ? { error: `${summary.error.code}: ${summary.error.message}` } : {}) });
    return summary;
  }
}

async function readText(stream: Readable, max: number): Promise<string> {
  const decoder = new StringDecoder('utf8');
  let out = '';
  for await (const c of stream as AsyncIterable<Buffer | string>) {
    out += typeof c === 'string' ? c : decoder.write(c);
    if (out.length > max) {
      stream.destroy();
      break;
    }
  }
  return out + decoder.end();
}

/**
 * The send function for `stream: true` requests (ExecRequest.send). The
 * executor's result for such a request is a ChatStream.
 */
export function streamingSend(options: StreamSendOptions = {}): SendFn<ChatStream> {
  return async (ctx: SendContext): Promise<ChatStream> => {
    const src = ctx.body;
    const so = src.stream_options && typeof src.stream_options === 'object' ? (src.stream_options as Record<string, unknown>) : {};
    const body = { ...src, stream: true, stream_options: { ...so, include_usage: true } };
    const res = await ctx.http.post('chat/completions', JSON.stringify(body), {
      signal: ctx.signal,
      responseType: 'stream',
      headers: { Accept: 'text/event-stream' },
    });
    const stream = res.data as Readable;
    if (res.status < 200 || res.status >= 300) {
      const text = await readText(stream, MAX_ERROR_BODY).catch(() => '');
      throw classifyHttp(res.status, res.headers as Record<string, unknown>, text, ctx.secrets);
    }
    const idleMs = options.idleTimeoutMs !== undefined && options.idleTimeoutMs > 0 ? options.idleTimeoutMs : ctx.timeoutMs;
    const ctype = String((res.headers as Record<string, unknown>)['content-type'] ?? '').toLowerCase();
    let source: EventSource;
    if (ctype.includes('application/json')) {
      // the server ignored stream: true and sent a whole completion
      let text = await readText(stream, 64 * 1024 * 1024);
      if (ctx.secrets.some((s) => s.length >= 4 && text.includes(s))) text = redactText(text, ctx.secrets);
      const completion = parseChatCompletion(text, ctx.secrets);
      source = new ReplayEventSource(completionToChunks(completion).map((c) => JSON.stringify(c)));
    } else {
      source = new SseEventSource(stream);
    }
    // Until the first chunk, the attempt's own signal (timeout, abort) ends it.
    const onAbort = (): void => source.destroy();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let first: ChatCompletionChunk;
    try {
      for (;;) {
        const ev = await source.next(0);
        if (ev.kind !== 'data') {
          throw new LlmError({ code: 'malformed_response', message: 'the stream ended before its first chunk' });
        }
        first = parseChunk(ev.data, ev.event, ctx.secrets);
        break;
      }
    } catch (e) {
      source.destroy();
      throw e;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    const handle = new ChatStream({
      first,
      source,
      account: ctx.account,
      idleMs,
      unconsumedMs: options.unconsumedTimeoutMs ?? idleMs,
      secrets: ctx.secrets,
      onUsage: (u) => ctx.control.chargeTokens(u.totalTokens),
    });
    // The account's slot stays taken until the stream is over.
    ctx.control.keepSlotUntil(handle[DEFERRED_COMPLETION]);
    return handle;
  };
}

export function isChatStream(v: unknown): v is ChatStream {
  return v instanceof ChatStream;
}
