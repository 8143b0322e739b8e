/**
 * The Portkey comparison (SPEC §3): the same OpenAI-compatible upstream (the
 * provider simulator, no limits, no added latency) called at a fixed open-loop
 * rate, directly with a keep-alive client and through the Portkey gateway
 * (`@portkey-ai/gateway`, its published Node build). Reported: p50 / p99 of each
 * path and the latency each gateway adds over the direct call, then each path's
 * closed-loop capacity (8 callers back to back), which bounds the rates at which
 * an open-loop latency comparison is meaningful (past it, latency is queueing).
 * The default rate (100 req/s) is one Portkey sustains on a 2-core machine.
 *
 * More columns: pass `extraTargets` (e.g. the OpenAI-compatible endpoint flow of
 * this package running in Node-RED); each gets the same load and its own
 * "added" rows, with Portkey's added latency as its baseline.
 */
import { startProviderSimulator } from '../simulators/provider';
import { measureOpenLoop, measureClosedLoop, type OpenLoopResult } from './support/open-loop';
import { jsonPoster } from './support/http-client';
import { startPortkeyGateway, portkeyHeaders } from './support/portkey-gateway';

import type { BenchResult } from './support/result';
export type { BenchResult };

/** What a comparison column gets: the upstream to route to and the request to send. */
export interface ComparisonContext {
  /** the upstream's OpenAI base URL (ends in /v1) */
  upstreamUrl: string;
  apiKey: string;
  model: string;
  /** the chat request body every column sends */
  body: Record<string, unknown>;
}

export interface ComparisonTarget {
  /** short name used in result rows, e.g. "portkey", "node-red endpoint" */
  name: string;
  /** starts what the column needs; `fire` sends one chat completion and resolves on a complete 2xx answer */
  setup(ctx: ComparisonContext): Promise<{ fire: () => Promise<void>; close: () => Promise<void> | void }>;
}

export interface PortkeyBenchOptions {
  rate?: number;
  durationMs?: number;
  warmupMs?: number;
  extraTargets?: ComparisonTarget[];
}

export const directTarget: ComparisonTarget = {
  name: 'direct',
  async setup(ctx) {
    const p = jsonPoster(`${ctx.upstreamUrl}/chat/completions`, ctx.body, { authorization: `Bearer ${ctx.apiKey}` });
    return { fire: p.fire, close: p.close };
  },
};

export const portkeyTarget: ComparisonTarget = {
  name: 'portkey',
  async setup(ctx) {
    const gw = await startPortkeyGateway();
    const p = jsonPoster(`${gw.url}/chat/completions`, ctx.body, portkeyHeaders(ctx.upstreamUrl, ctx.apiKey));
    return {
      fire: p.fire,
      close: async () => {
        p.close();
        await gw.stop();
      },
    };
  },
};

const round = (n: number) => Math.round(n * 1000) / 1000;

export async function run(opts: PortkeyBenchOptions = {}): Promise<BenchResult[]> {
  const rate = opts.rate ?? 100;
  const durationMs = opts.durationMs ?? 5000;
  const warmupMs = opts.warmupMs ?? 2000;
  const sim = await startProviderSimulator({ accounts: [{ key: 'sk-bench-portkey', latencyMs: 0 }] });
  const ctx: ComparisonContext = {
    upstreamUrl: sim.url,
    apiKey: 'sk-bench-portkey',
    model: 'bench-model',
    body: { model: 'bench-model', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 },
  };
  const targets = [directTarget, portkeyTarget, ...(opts.extraTargets ?? [])];
  const measured = new Map<string, OpenLoopResult>();
  const capacity = new Map<string, number>();
  const out: BenchResult[] = [];
  try {
    for (const t of targets) {
      const col = await t.setup(ctx);
      try {
        measured.set(t.name, await measureOpenLoop({ rate, durationMs, warmupMs, fire: col.fire }));
        capacity.set(t.name, (await measureClosedLoop({ concurrency: 8, durationMs: 3000, fire: col.fire })).rate);
      } finally {
        await col.close();
      }
    }
  } finally {
    await sim.close();
  }
  const direct = measured.get('direct') as OpenLoopResult;
  const portkey = measured.get('portkey') as OpenLoopResult;
  const load = `${rate} req/s open loop, ${durationMs / 1000} s`;
  for (const t of targets) {
    const r = measured.get(t.name) as OpenLoopResult;
    out.push({ name: `gateway comparison (${load}): ${t.name} p50`, value: round(r.p50), unit: 'ms' });
    out.push({ name: `gateway comparison (${load}): ${t.name} p99`, value: round(r.p99), unit: 'ms' });
    if (r.errors > 0) out.push({ name: `gateway comparison: ${t.name} errors`, value: r.errors, unit: 'requests', target: '0' });
    if (r.lagP99Ms > 2) out.push({ name: `gateway comparison: ${t.name} generator lag p99 (load not held)`, value: round(r.lagP99Ms), unit: 'ms' });
    out.push({ name: `gateway comparison: ${t.name} capacity (8 callers, closed loop)`, value: Math.round(capacity.get(t.name) ?? 0), unit: 'req/s' });
    if (t.name === 'direct') continue;
    const addedP50 = r.p50 - direct.p50;
    const addedP99 = r.p99 - direct.p99;
    if (t.name === 'portkey') {
      out.push({ name: 'added latency over direct: portkey p50', value: round(addedP50), unit: 'ms', baseline: round(direct.p50) });
      out.push({ name: 'added latency over direct: portkey p99', value: round(addedP99), unit: 'ms', baseline: round(direct.p99) });
    } else {
      out.push({ name: `added latency over direct: ${t.name} p50`, value: round(addedP50), unit: 'ms', baseline: round(portkey.p50 - direct.p50), target: '< Portkey (baseline)' });
      out.push({ name: `added latency over direct: ${t.name} p99`, value: round(addedP99), unit: 'ms', baseline: round(portkey.p99 - direct.p99), target: '< Portkey (baseline)' });
    }
  }
  return out;
}

if (require.main === module) {
  const rate = Number(process.argv[2]) || undefined;
  run({ rate }).then(
    (rows) => {
      for (const r of rows) console.log(`${r.name}: ${r.value} ${r.unit}${r.baseline !== undefined ? ` (baseline ${r.baseline})` : ''}${r.target ? ` [target ${r.target}]` : ''}`);
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
