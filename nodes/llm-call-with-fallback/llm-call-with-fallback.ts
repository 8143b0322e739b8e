/**
 * llm-call-with-fallback: sends msg.payload (an OpenAI chat request, or a prompt
 * string) to the first candidate that can take it, with retries, fallbacks,
 * circuit breakers and a bounded priority queue (engine/fallback). Output 1: the
 * answer; output 2: the friendly "emergency" error when every candidate failed.
 * Every message ends in exactly one output or one done(err), also on redeploy.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { DebouncedStatus } from '../shared/status';
import {
  FallbackExecutor,
  normalizeChatRequest,
  readPriority,
  readRoute,
  type ExecFailure,
  type ExecSuccess,
} from '../../engine/fallback';
import { bool, executorOptions, type LlmCallDef } from './options';
import { providerRegistry } from '../../engine/providers';
import type { RouteCandidate } from '../../engine/routing/types';

function allSecrets(): string[] {
  const out: string[] = [];
  for (const a of providerRegistry.list()) out.push(...a.secrets());
  return out;
}

export = function (RED: NodeAPI): void {
  function LlmCallWithFallback(this: Node, def: LlmCallDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node, 500);
    const problems: string[] = [];
    const options = executorOptions(def, problems);
    let chain: RouteCandidate[] = [];
    if (def.chain !== undefined && def.chain !== null && def.chain !== '') {
      try {
        chain = readRoute(def.chain, 'chain');
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    const useRoute = bool(def.useRoute, true);
    if (problems.length > 0) node.error(RED._('llm-call-with-fallback.errors.config', { errors: problems.join('; ') }));

    const executor = new FallbackExecutor(options);
    let closed = false;
    let inEmergency = false;

    const refresh = (): void => {
      if (closed) return;
      const s = executor.stats();
      if (s.emergency && s.lastFailure) {
        status.set({ fill: 'red', shape: 'ring', text: RED._('llm-call-with-fallback.status.emergency', { code: s.lastFailure.code, q: s.queued }) });
      } else if (s.queued > 0) {
        status.set({ fill: 'yellow', shape: 'ring', text: RED._('llm-call-with-fallback.status.queued', { q: s.queued, active: s.active }) });
      } else if (s.lastFailure && (!s.lastSuccess || s.lastFailure.at > s.lastSuccess.at)) {
        status.set({ fill: 'yellow', shape: 'dot', text: RED._('llm-call-with-fallback.status.failed', { code: s.lastFailure.code }) });
      } else if (s.lastSuccess) {
        status.set({
          fill: 'green',
          shape: 'dot',
          text: RED._('llm-call-with-fallback.status.ok', { provider: s.lastSuccess.provider, ms: Math.round(s.lastSuccess.latencyMs), active: s.active }),
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
    else status.now({ fill: 'grey', shape: 'ring', text: RED._('llm-call-with-fallback.status.ready', { n: chain.length }) });

    onInput(
      node,
      async (msg: NodeMessage, send) => {
        const req = normalizeChatRequest(msg.payload);
        let route: RouteCandidate[];
        if (useRoute && msg.route !== undefined && msg.route !== null) route = readRoute(msg.route, 'msg.route');
        else route = chain;
        if (route.length === 0) throw new Error(RED._('llm-call-with-fallback.errors.noCandidates'));
        const pending = executor.execute({ body: req.body, route, priority: readPriority(msg.priority), meta: { msgid: msg._msgid } });
        if (executor.stats().queued > 0) refresh();
        const out = await pending;
        if (out.ok) {
          const ok = out as ExecSuccess;
          msg.payload = ok.text;
          msg.response = ok.response;
          msg.llm = {
            provider: ok.provider,
            model: ok.model,
            ...(ok.upstreamModel !== ok.model ? { upstreamModel: ok.upstreamModel } : {}),
            attempts: ok.attempts,
            latencyMs: ok.latencyMs,
            queuedMs: ok.queuedMs,
            usage: ok.usage,
            cached: ok.cached,
          };
          send([msg, null]);
          return;
        }
        const fail = out as ExecFailure;
        if (fail.code === 'closed') throw new Error(RED._('llm-call-with-fallback.errors.closed'));
        if (fail.code === 'no_candidates') throw new Error(`${RED._('llm-call-with-fallback.errors.noProvider')} ${fail.detail}`);
        msg.error = {
          code: fail.code,
          message: fail.message,
          detail: fail.detail,
          attempts: fail.attempts,
          emergency: fail.emergency,
          ...(fail.status !== undefined ? { status: fail.status } : {}),
          source: { id: node.id, type: node.type, name: node.name },
        };
        send([null, msg]);
      },
      allSecrets,
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      status.clear();
      executor.close().then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('llm-call-with-fallback', LlmCallWithFallback as unknown as (this: Node, def: NodeDef) => void);
};
