/**
 * Flows and outcome collection for llm-provider / llm-call-with-fallback tests
 * with node-red-node-test-helper: provider config nodes, one or more call nodes
 * wired to helper nodes (output 1, output 2) and a Catch node, and a collector
 * that records where each message ended.
 */
import { nodeModule } from './paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper');

export const providerNode = nodeModule('llm-provider');
export const callNode = nodeModule('llm-call-with-fallback');

export interface ProviderSpec {
  id: string;
  name: string;
  baseUrl: string;
  apiKey?: string;
  rpm?: number | string;
  tpm?: number | string;
  maxConcurrent?: number | string;
  timeout?: number;
  window?: number;
  models?: Array<{ name: string; upstream?: string; contextWindow?: number }>;
  breakerThreshold?: number;
  breakerReset?: number;
  [key: string]: unknown;
}

export interface CallSpec {
  id: string;
  chain?: Array<{ provider: string; model: string }>;
  [key: string]: unknown;
}

export type Where = 'out1' | 'out2' | 'catch';

export interface Outcome {
  where: Where;
  /** the call node that produced it */
  node: string;
  msg: Record<string, any>;
}

/** Provider config nodes + call nodes, each call wired to `<id>-o1`, `<id>-o2`; one Catch node for the tab. */
export function buildFlow(providers: ProviderSpec[], calls: CallSpec[]): { flow: Array<Record<string, unknown>>; credentials: Record<string, Record<string, string>> } {
  const flow: Array<Record<string, unknown>> = [{ id: 'tab', type: 'tab', label: 'llm' }];
  const credentials: Record<string, Record<string, string>> = {};
  for (const p of providers) {
    const { apiKey, ...rest } = p;
    flow.push({ type: 'llm-provider', window: 60, timeout: 30, breakerThreshold: 5, breakerReset: 30, ...rest });
    if (apiKey) credentials[p.id] = { apiKey };
  }
  for (const c of calls) {
    flow.push({
      z: 'tab',
      type: 'llm-call-with-fallback',
      name: c.id,
      retries: 2,
      backoffBase: 5,
      backoffMax: 50,
      x: 100,
      y: 100,
      ...c,
      wires: [[`${c.id}-o1`], [`${c.id}-o2`]],
    });
    flow.push({ id: `${c.id}-o1`, z: 'tab', type: 'helper', x: 300, y: 100 });
    flow.push({ id: `${c.id}-o2`, z: 'tab', type: 'helper', x: 300, y: 140 });
  }
  flow.push({ id: 'catch', z: 'tab', type: 'catch', scope: null, uncaught: false, x: 100, y: 300, wires: [['caught']] });
  flow.push({ id: 'caught', z: 'tab', type: 'helper', x: 300, y: 300 });
  return { flow, credentials };
}

/** Records every outcome of the loaded call nodes. Call after helper.load(). */
export function collect(callIds: string[]): {
  outcomes: Outcome[];
  waitFor(n: number, timeoutMs?: number): Promise<Outcome[]>;
  byMsgId(): Map<string, Outcome[]>;
} {
  const outcomes: Outcome[] = [];
  const waiters: Array<{ n: number; resolve: (o: Outcome[]) => void }> = [];
  const push = (o: Outcome): void => {
    outcomes.push(o);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (outcomes.length >= waiters[i].n) {
        waiters[i].resolve(outcomes);
        waiters.splice(i, 1);
      }
    }
  };
  for (const id of callIds) {
    helper.getNode(`${id}-o1`).on('input', (msg: Record<string, any>) => push({ where: 'out1', node: id, msg }));
    helper.getNode(`${id}-o2`).on('input', (msg: Record<string, any>) => push({ where: 'out2', node: id, msg }));
  }
  helper.getNode('caught').on('input', (msg: Record<string, any>) => push({ where: 'catch', node: msg.error?.source?.name ?? msg.error?.source?.id ?? '?', msg }));
  return {
    outcomes,
    waitFor(n, timeoutMs = 10_000) {
      if (outcomes.length >= n) return Promise.resolve(outcomes);
      return new Promise((resolve, reject) => {
        const w = { n, resolve: (o: Outcome[]) => { clearTimeout(timer); resolve(o); } };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`timed out waiting for ${n} outcomes (got ${outcomes.length})`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    byMsgId() {
      const m = new Map<string, Outcome[]>();
      for (const o of outcomes) {
        const id = String(o.msg._msgid);
        const list = m.get(id) ?? [];
        list.push(o);
        m.set(id, list);
      }
      return m;
    },
  };
}
