/**
 * llm-call-with-fallback: sends msg.payload (an OpenAI chat request, or a prompt
 * string) to the first candidate that can take it, with retries, fallbacks,
 * circuit breakers and a bounded priority queue (engine/fallback). Output 1: the
 * answer; output 2: the friendly "emergency" error when every candidate failed.
 * Every message ends in exactly one output or one done(err), also on redeploy.
 *
 * Also: `stream: true` (chunk messages, or server-sent events straight to an
 * http in node's response), an optional response cache, an "OpenAI response"
 * output mode for /v1/chat/completions flows, and candidate-ordering strategies
 * with session affinity and USD budgets (engine/strategies, engine/costs).
 */
import { randomBytes } from 'node:crypto';
import type { Node, NodeAPI, NodeDef, NodeMessage, SendFn } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { DebouncedStatus } from '../shared/status';
import {
  FallbackExecutor,
  RequestInputError,
  isChatStream,
  normalizeChatRequest,
  openAiError,
  readPriority,
  readRoute,
  streamingSend,
  type ChatStream,
  type ExecFailure,
  type ExecRequest,
  type ExecSuccess,
  type ExecutorHooks,
  type RouteEntry,
  type StreamSummary,
} from '../../engine/fallback';
import { completionText, type ChatCompletion } from '../../engine/providers/transport';
import { ExecutorCache } from '../../engine/cache/executor-cache';
import { CandidatePlanner, explainChoice, plannerHooks, type PlanningMeta } from '../../engine/strategies';
import type { BudgetAlert } from '../../engine/costs/budget';
import { bool, cacheSettings, executorOptions, outputMode, planningSettings, type LlmCallDef } from './options';
import { providerRegistry } from '../../engine/providers';

type Response = ChatCompletion | ChatStream;

/** The Express response behind an http in node's msg.res (Node-RED wraps it as msg.res._res). */
interface HttpResponse {
  headersSent: boolean;
  writableEnded: boolean;
  destroyed?: boolean;
  statusCode: number;
  setHeader(name: string, value: string): void;
  writeHead(status: number): void;
  flushHeaders?(): void;
  write(chunk: string): boolean;
  end(chunk?: string): void;
  once(ev: 'drain' | 'close', fn: () => void): void;
  removeListener(ev: 'drain' | 'close', fn: () => void): void;
  socket?: { setNoDelay?(v: boolean): void } | null;
}

function allSecrets(): string[] {
  const out: string[] = [];
  for (const a of providerRegistry.list()) out.push(...a.secrets());
  return out;
}

function httpResponseOf(msg: NodeMessage): HttpResponse | null {
  const wrapper = msg.res as { _res?: unknown } | undefined;
  const res = (wrapper && typeof wrapper === 'object' && wrapper._res ? wrapper._res : null) as HttpResponse | null;
  if (!res || typeof res.write !== 'function' || typeof res.setHeader !== 'function') return null;
  return res;
}

function sessionOf(msg: NodeMessage, prop: string, RED: NodeAPI): string | undefined {
  let v: unknown;
  try {
    v = RED.util.getMessageProperty(msg, prop);
  } catch {
    return undefined;
  }
  if (v && typeof v === 'object' && 'id' in (v as Record<string, unknown>)) v = (v as Record<string, unknown>).id;
  if (typeof v === 'string' && v !== '') return v.slice(0, 200);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

const SHORT: Record<string, string> = {
  fixed: '',
  'weighted-round-robin': 'wrr',
  'least-busy': 'least-busy',
  'lowest-latency': 'latency',
  score: 'score',
};

export = function (RED: NodeAPI): void {
  function LlmCallWithFallback(this: Node, def: LlmCallDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node, 500);
    const problems: string[] = [];
    const options = executorOptions(def, problems);
    let chain: RouteEntry[] = [];
    if (def.chain !== undefined && def.chain !== null && def.chain !== '') {
      try {
        chain = readRoute(def.chain, 'chain');
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    const useRoute = bool(def.useRoute, true);
    const mode = outputMode(def);
    const streamHttp = bool(def.streamHttp, true);
    const idleS = Number(def.streamIdle);
    const streamSend = streamingSend(Number.isFinite(idleS) && idleS > 0 ? { idleTimeoutMs: idleS * 1000 } : {});
    const cacheCfg = cacheSettings(def, problems);
    const planning = planningSettings(def, problems);

    const cache = cacheCfg
      ? new ExecutorCache<Response>({
          ttlMs: cacheCfg.ttlMs,
          maxEntries: cacheCfg.maxEntries,
          force: cacheCfg.force,
          accountName: (p) => providerRegistry.get(p)?.name,
        })
      : null;

    let budgetLevel: 'ok' | 'warn' | 'exhausted' = 'ok';
    const onAlert = (a: BudgetAlert): void => {
      // once per crossing (the budget tracker raises each level once)
      if (a.level === 'ok') node.log(a.message);
      else node.warn(a.message);
      if (a.scope === 'daily' || a.scope === 'provider') budgetLevel = a.level;
      refresh();
    };
    let planner: CandidatePlanner;
    try {
      planner = new CandidatePlanner({
        strategy: planning.strategy,
        weights: planning.weights,
        windowMs: planning.windowMs,
        ...(planning.rules ? { rules: planning.rules } : {}),
        affinity: planning.affinityTtlMs > 0 ? { ttlMs: planning.affinityTtlMs } : false,
        budget: planning.budget ?? null,
        onAlert,
      });
    } catch (e) {
      problems.push((e as Error).message);
      planner = new CandidatePlanner({ strategy: 'fixed', affinity: false, onAlert });
    }
    const planHooks = plannerHooks<Response>(planner);
    const cacheHooks = cache?.hooks();
    const hooks: ExecutorHooks<Response> = {
      ...(cacheHooks ? { lookup: cacheHooks.lookup } : {}),
      order: planHooks.order,
      beforeAttempt: planHooks.beforeAttempt,
      onAttempt: planHooks.onAttempt,
      onSuccess(o, req) {
        planHooks.onSuccess(o, req);
        cacheHooks?.onSuccess(o, req);
      },
      text: (r) => (isChatStream(r) ? '' : completionText(r)),
    };
    if (problems.length > 0) node.error(RED._('llm-call-with-fallback.errors.config', { errors: problems.join('; ') }));

    const executor = new FallbackExecutor<Response>({ ...(options as object), hooks });
    const unsubscribe = providerRegistry.onEvent((e) => {
      if (e.type === 'breaker' && e.state === 'open') planHooks.onUnavailable(`${e.account.name}/${e.model}`);
    });
    const streams = new Set<ChatStream>();
    let closed = false;
    let inEmergency = false;
    let cacheHits = 0;
    let lastCached = false;
    const tag = SHORT[planning.strategy] ?? '';

    const suffix = (): string => {
      let s = tag ? ` · ${tag}` : '';
      if (cache) s += ` · ${RED._('llm-call-with-fallback.status.cache', { hits: cacheHits })}`;
      const b = planner.budget?.status();
      if (b && b.dailyLimitUsd !== null && b.dailyLimitUsd > 0) {
        s += ` · ${RED._('llm-call-with-fallback.status.budget', { pct: Math.min(999, Math.round((b.dailySpentUsd / b.dailyLimitUsd) * 100)) })}`;
      }
      if (streams.size > 0) s += ` · ${RED._('llm-call-with-fallback.status.streams', { n: streams.size })}`;
      return s;
    };
    // The status text is worked out at most every 100 ms, not once per message.
    let refreshTimer: NodeJS.Timeout | null = null;
    const refresh = (): void => {
      if (closed || refreshTimer) return;
      refreshTimer = setTimeout(() => {
        refreshTimer = null;
        render();
      }, 100);
    };
    const render = (): void => {
      if (closed) return;
      const s = executor.stats();
      if (s.emergency && s.lastFailure) {
        status.set({ fill: 'red', shape: 'ring', text: RED._('llm-call-with-fallback.status.emergency', { code: s.lastFailure.code, q: s.queued }) + suffix() });
      } else if (s.queued > 0) {
        status.set({ fill: 'yellow', shape: 'ring', text: RED._('llm-call-with-fallback.status.queued', { q: s.queued, active: s.active }) + suffix() });
      } else if (s.lastFailure && (!s.lastSuccess || s.lastFailure.at > s.lastSuccess.at)) {
        status.set({ fill: 'yellow', shape: 'dot', text: RED._('llm-call-with-fallback.status.failed', { code: s.lastFailure.code }) + suffix() });
      } else if (s.lastSuccess || lastCached) {
        const last = s.lastSuccess;
        status.set({
          fill: budgetLevel === 'exhausted' ? 'yellow' : 'green',
          shape: 'dot',
          text: last
            ? RED._('llm-call-with-fallback.status.ok', { provider: last.provider, ms: Math.round(last.latencyMs), active: s.active }) + suffix()
            : RED._('llm-call-with-fallback.status.ready', { n: chain.length }) + suffix(),
        });
      }
    };
    executor.onSettled(() => {
      const s = executor.stats();
      if (s.emergency && !inEmergency) {
        inEmergency = true;
        node.warn(RED._('llm-call-with-fallback.errors.emergency', { detail: s.lastFailure?.detail ?? '' }));
      } else if (!s.emergency && inEmergency) {
        inEmergency = false;
        node.log(RED._('llm-call-with-fallback.errors.recovered'));
      }
      refresh();
    });
    if (problems.length > 0) status.now({ fill: 'red', shape: 'ring', text: RED._('llm-call-with-fallback.status.invalid') });
    else status.now({ fill: 'grey', shape: 'ring', text: RED._('llm-call-with-fallback.status.ready', { n: chain.length }) + (tag ? ` · ${tag}` : '') });

    /** Output 2 in OpenAI mode: OpenAI's error body and an HTTP status for an http response node. */
    const sendError = (msg: NodeMessage, send: SendFn, code: string, message: string, extra: Record<string, unknown> = {}, upstreamStatus?: number): void => {
      msg.error = { code, message, ...extra, source: { id: node.id, type: node.type, name: node.name } };
      if (mode === 'openai') {
        const e = openAiError(code, message, upstreamStatus);
        msg.payload = e.body;
        msg.statusCode = e.status;
        const headers: Record<string, string> = { ...(msg.headers && typeof msg.headers === 'object' ? (msg.headers as Record<string, string>) : {}) };
        if (e.retryAfterS !== undefined) headers['retry-after'] = String(e.retryAfterS);
        msg.headers = headers;
      }
      send([null, msg]);
    };

    const llmInfo = (ok: ExecSuccess<Response>, req: ExecRequest<Response>): Record<string, unknown> => {
      const m = req.meta as PlanningMeta | undefined;
      const key = `${ok.provider}/${ok.model}`;
      const choice = explainChoice(m?.plan, key);
      const info: Record<string, unknown> = {
        provider: ok.provider,
        model: ok.model,
        ...(ok.upstreamModel !== ok.model ? { upstreamModel: ok.upstreamModel } : {}),
        attempts: ok.attempts,
        latencyMs: ok.latencyMs,
        queuedMs: ok.queuedMs,
        usage: ok.usage,
        cost: ok.usd,
        cached: ok.cached,
      };
      if (choice) {
        info.routing = {
          strategy: planner.currentStrategy,
          position: choice.position,
          reason: choice.reason,
          ...(choice.score !== undefined ? { score: choice.score } : {}),
          ...(m?.plan && m.plan.rejected.length > 0 ? { rejected: m.plan.rejected } : {}),
        };
      }
      if (m?.alerts) info.budgetAlerts = m.alerts.map((a) => ({ scope: a.scope, level: a.level, message: a.message }));
      return info;
    };

    const successHeaders = (msg: NodeMessage, ok: ExecSuccess<Response>): void => {
      const headers: Record<string, string> = { ...(msg.headers && typeof msg.headers === 'object' ? (msg.headers as Record<string, string>) : {}) };
      headers['x-llm-provider'] = ok.provider;
      headers['x-llm-model'] = ok.model;
      if (ok.cached) headers['x-llm-cache'] = 'hit';
      msg.headers = headers;
    };

    /** A stream to an HTTP client as OpenAI server-sent events. Resolves with the summary; never rejects. */
    const streamToHttp = async (
      res: HttpResponse,
      handle: ChatStream,
      ok: ExecSuccess<Response>,
      wantsUsage: boolean,
    ): Promise<{ summary: StreamSummary; clientGone: boolean }> => {
      let clientGone = false;
      const onClose = (): void => {
        if (!res.writableEnded) {
          clientGone = true;
          handle.abort('the client closed the connection');
        }
      };
      if (res.destroyed) {
        // the client left before the first chunk: stop the upstream stream at once
        handle.abort('the client closed the connection');
        return { summary: await handle.consume(() => undefined), clientGone: true };
      }
      res.once('close', onClose);
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('X-Accel-Buffering', 'no');
      res.setHeader('x-llm-provider', ok.provider);
      res.setHeader('x-llm-model', ok.model);
      res.socket?.setNoDelay?.(true);
      res.writeHead(200);
      res.flushHeaders?.();
      const summary = await handle.consume((chunk) => {
        if (clientGone || res.writableEnded) return;
        if (res.destroyed) {
          onClose();
          return;
        }
        // the usage chunk (no choices) only for clients that asked for it, as OpenAI does
        if (!wantsUsage && chunk.usage && Array.isArray(chunk.choices) && chunk.choices.length === 0) return;
        if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) {
          if (res.destroyed) return undefined;
          return new Promise<void>((resolve) => {
            const go = (): void => {
              res.removeListener('drain', go);
              res.removeListener('close', go);
              resolve();
            };
            res.once('drain', go);
            res.once('close', go);
          });
        }
        return undefined;
      });
      res.removeListener('close', onClose);
      if (!res.writableEnded && !clientGone) {
        if (summary.ok) res.write('data: [DONE]\n\n');
        else {
          const err = summary.error ?? { code: 'stream_interrupted', message: 'the stream broke off' };
          const message = closed ? RED._('llm-call-with-fallback.errors.closed') : `the answer stream broke off: ${err.message}`;
          res.write(`data: ${JSON.stringify({ error: { message, type: 'server_error', code: 'stream_interrupted', param: null } })}\n\n`);
        }
        res.end();
      }
      return { summary, clientGone };
    };

    /** A stream as messages on output 1: one per chunk with text, then the final message. */
    const streamToMessages = (msg: NodeMessage, send: SendFn, handle: ChatStream, ok: ExecSuccess<Response>): Promise<StreamSummary> => {
      const id = String(msg._msgid ?? '');
      let index = 0;
      return handle.consume((chunk, delta) => {
        if (!delta || closed) return;
        const part: NodeMessage = {
          _msgid: randomBytes(8).toString('hex'),
          payload: delta,
          stream: { id, index: index++, done: false },
          chunk,
          llm: { provider: ok.provider, model: ok.model, streaming: true },
        };
        if (msg.topic !== undefined) part.topic = msg.topic;
        send([part, null]);
      });
    };

    const handleStream = async (
      msg: NodeMessage,
      send: SendFn,
      ok: ExecSuccess<Response>,
      req: ExecRequest<Response>,
      handle: ChatStream,
      wantsUsage: boolean,
    ): Promise<void> => {
      streams.add(handle);
      refresh();
      let summary: StreamSummary;
      let clientGone = false;
      const res = streamHttp ? httpResponseOf(msg) : null;
      try {
        if (res && !res.headersSent && !res.writableEnded) ({ summary, clientGone } = await streamToHttp(res, handle, ok, wantsUsage));
        else summary = await streamToMessages(msg, send, handle, ok);
      } finally {
        streams.delete(handle);
      }
      const fin = ok.finalized ? await ok.finalized : ok;
      refresh();
      const info = llmInfo(fin, req);
      info.stream = { ok: summary.ok, chunks: summary.chunks, durationMs: summary.durationMs, ...(res ? { http: true } : {}) };
      msg.response = summary.completion;
      msg.stream = { id: String(msg._msgid ?? ''), done: true };
      if (closed) throw new Error(RED._('llm-call-with-fallback.errors.closed'));
      if (summary.ok) {
        msg.payload = mode === 'openai' ? summary.completion : summary.text;
        msg.llm = info;
        if (res) return; // the client has the answer; the message completes (Complete nodes see it)
        if (mode === 'openai') {
          msg.statusCode = 200;
          successHeaders(msg, fin);
        }
        send([msg, null]);
        return;
      }
      msg.llm = info;
      if (res) {
        if (clientGone) return; // nobody is left to tell
        throw new Error(RED._('llm-call-with-fallback.errors.streamBroken', { detail: summary.error?.message ?? '' }));
      }
      msg.error = {
        code: 'stream_interrupted',
        message: RED._('llm-call-with-fallback.errors.streamBroken', { detail: summary.error?.message ?? '' }),
        detail: summary.error?.message ?? '',
        partial: summary.text,
        attempts: ok.attempts,
        emergency: false,
        source: { id: node.id, type: node.type, name: node.name },
      };
      send([null, msg]);
    };

    onInput(
      node,
      async (msg: NodeMessage, send) => {
        let req: ReturnType<typeof normalizeChatRequest>;
        let route: RouteEntry[];
        try {
          req = normalizeChatRequest(msg.payload);
          if (useRoute && msg.route !== undefined && msg.route !== null) route = readRoute(msg.route, 'msg.route');
          else route = chain;
          if (route.length === 0) throw new Error(RED._('llm-call-with-fallback.errors.noCandidates'));
        } catch (e) {
          if (mode !== 'openai') throw e;
          const code = e instanceof RequestInputError ? 'invalid_input' : 'no_candidates';
          sendError(msg, send, code, (e as Error).message);
          return;
        }
        const so = (msg.payload as { stream_options?: { include_usage?: unknown } } | null)?.stream_options;
        const wantsUsage = !!so && typeof so === 'object' && so.include_usage === true;
        const session = sessionOf(msg, planning.sessionProperty, RED);
        const xreq: ExecRequest<Response> = {
          body: req.body,
          route,
          priority: readPriority(msg.priority),
          meta: { msgid: msg._msgid, stream: req.wantsStream, ...(session !== undefined ? { session } : {}) },
          ...(req.wantsStream ? { send: streamSend } : {}),
        };
        const pending = executor.execute(xreq);
        if (executor.queuedCount > 0) refresh();
        const out = await pending;
        if (out.ok) {
          const ok = out as ExecSuccess<Response>;
          if (isChatStream(ok.response)) {
            await handleStream(msg, send, ok, xreq, ok.response, wantsUsage);
            return;
          }
          if (ok.cached) {
            cacheHits++;
            lastCached = true;
            refresh();
          }
          const response = ok.response as ChatCompletion;
          msg.payload = mode === 'openai' ? response : ok.text;
          msg.response = response;
          msg.llm = llmInfo(ok, xreq);
          if (mode === 'openai') {
            msg.statusCode = 200;
            successHeaders(msg, ok);
          }
          send([msg, null]);
          return;
        }
        const fail = out as ExecFailure;
        if (fail.code === 'closed') throw new Error(RED._('llm-call-with-fallback.errors.closed'));
        if (fail.code === 'no_candidates' && mode !== 'openai') throw new Error(`${RED._('llm-call-with-fallback.errors.noProvider')} ${fail.detail}`);
        const message = fail.code === 'budget_exhausted' ? `${fail.message} (${fail.detail})` : fail.message;
        sendError(
          msg,
          send,
          fail.code,
          fail.code === 'invalid_request' || fail.code === 'no_candidates' ? `${fail.message}` : message,
          {
            detail: fail.detail,
            attempts: fail.attempts,
            emergency: fail.emergency,
            ...(fail.status !== undefined ? { status: fail.status } : {}),
          },
          fail.status,
        );
      },
      allSecrets,
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      unsubscribe();
      if (refreshTimer) clearTimeout(refreshTimer);
      refreshTimer = null;
      status.clear();
      for (const s of streams) s.abort('the node was stopped or redeployed');
      executor.close().then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('llm-call-with-fallback', LlmCallWithFallback as unknown as (this: Node, def: NodeDef) => void);
};
