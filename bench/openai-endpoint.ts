/**
 * The OpenAI-compatible endpoint flow vs the Portkey gateway vs a direct call
 * (SPEC §3: lower added latency than Portkey at p50 and p99).
 *
 * The flow runs in a real Node-RED process (tools/nodered-launcher): http in
 * POST /v1/chat/completions -> tier-router -> llm-call-with-fallback (OpenAI
 * output) -> http response, from "examples/03 OpenAI-compatible endpoint.json"
 * when present (else the same chain built here). Every llm-provider of the flow
 * points at the bench's upstream with its key, without rate limits, and the
 * response cache is off, so every request really reaches the upstream, as
 * through Portkey. Same upstream (the provider simulator, no added latency),
 * same open-loop load and request body for the three columns (bench/portkey.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { run as comparison, type BenchResult, type ComparisonTarget } from './portkey';
import { jsonPoster } from './support/http-client';
import { startNodeRed, repoRoot } from '../tools/nodered-launcher';

export type { BenchResult };

const EXAMPLE = path.join(repoRoot, 'examples', '03 OpenAI-compatible endpoint.json');

type FlowNode = Record<string, any>;

/** The same chain as the example, for a checkout without it. */
function builtFlow(): FlowNode[] {
  const prov = (id: string, name: string): FlowNode => ({ id, type: 'llm-provider', name, baseUrl: 'http://127.0.0.1:1/v1', models: [], timeout: 30 });
  const route = [
    { provider: 'p1', model: 'bench-model' },
    { provider: 'p2', model: 'bench-model' },
    { provider: 'p3', model: 'bench-model' },
  ];
  return [
    { id: 'tab', type: 'tab', label: 'endpoint' },
    prov('p1', 'NVIDIA-1'),
    prov('p2', 'NVIDIA-2'),
    prov('p3', 'Hunyuan'),
    { id: 'in', z: 'tab', type: 'http in', url: '/v1/chat/completions', method: 'post', x: 100, y: 100, wires: [['tier']] },
    { id: 'tier', z: 'tab', type: 'tier-router', name: 'tier', tiers: 3, defaultTier: 2, routes: [route, route, route], x: 250, y: 100, wires: [['call'], ['call'], ['call']] },
    { id: 'call', z: 'tab', type: 'llm-call-with-fallback', name: 'call', outputMode: 'openai', x: 400, y: 100, wires: [['out'], ['out']] },
    { id: 'out', z: 'tab', type: 'http response', x: 550, y: 100, wires: [] },
  ];
}

export function endpointFlow(upstreamUrl: string, apiKey: string): { flows: FlowNode[]; credentials: Record<string, Record<string, string>>; source: string } {
  let flows: FlowNode[];
  let source: string;
  if (fs.existsSync(EXAMPLE)) {
    flows = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
    source = 'examples/03';
  } else {
    flows = builtFlow();
    source = 'built-in copy of examples/03';
  }
  const credentials: Record<string, Record<string, string>> = {};
  for (const n of flows) {
    if (n.type === 'llm-provider') {
      n.baseUrl = upstreamUrl;
      n.rpm = '';
      n.tpm = '';
      n.maxConcurrent = '';
      n.redisUrl = '';
      credentials[n.id] = { apiKey };
    } else if (n.type === 'llm-call-with-fallback') {
      n.cache = false;
    }
  }
  return { flows, credentials, source };
}

let flowSource = '';

export const endpointTarget: ComparisonTarget = {
  name: 'node-red endpoint flow',
  async setup(ctx) {
    const { flows, credentials, source } = endpointFlow(ctx.upstreamUrl, ctx.apiKey);
    flowSource = source;
    const nr = await startNodeRed({ flows, credentials, withDashboard: false });
    const p = jsonPoster(`${nr.url}/v1/chat/completions`, ctx.body);
    // one request first: the flow answers at all
    await p.fire().catch(async (err: Error) => {
      p.close();
      await nr.stop();
      throw new Error(`the endpoint flow did not answer: ${err.message}\n${nr.logs().slice(-2000)}`);
    });
    return {
      fire: p.fire,
      close: async () => {
        p.close();
        await nr.stop();
      },
    };
  },
};

export async function run(): Promise<BenchResult[]> {
  const quick = process.env.BENCH_QUICK === '1';
  const rows = await comparison({ rate: 100, durationMs: quick ? 3000 : 5000, warmupMs: 2000, extraTargets: [endpointTarget] });
  return rows.map((r) => (r.name.includes('node-red endpoint flow') ? { ...r, name: r.name.replace('node-red endpoint flow', `node-red endpoint flow (${flowSource})`) } : r));
}

if (require.main === module) {
  run().then(
    (rows) => {
      for (const r of rows) console.log(`${r.name}: ${r.value} ${r.unit}${r.baseline !== undefined ? ` (baseline ${r.baseline})` : ''}${r.target ? ` [target ${r.target}]` : ''}`);
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
