/**
 * `npm start`: Node-RED on 127.0.0.1:1880 with this package, every example flow deployed,
 * against built-in simulators of One API and of the LLM providers, so the dashboard is live
 * with no accounts. Environment variables point it at real services instead:
 *
 *   PORT                     Node-RED port (default 1880)
 *   DEMO_USER_DIR            Node-RED user dir (default .demo/ in the repository)
 *   DEMO_POLL_SECONDS        how often the quota guard polls in the demo (default 15)
 *   ONEAPI_URL               a real One API / new-api base URL (then no One API simulator runs)
 *   ONEAPI_TOKEN             its admin access token     ONEAPI_USER_ID  new-api user id
 *   ONEAPI_FLAVOUR           one-api | new-api | detect (simulator flavour: new-api-2026 by default,
 *                            or SIM_ONEAPI_FLAVOUR=one-api | new-api-2025 | new-api-2026)
 *   LLM_<ACCOUNT>_URL / LLM_<ACCOUNT>_KEY   a real provider for an account (ACCOUNT = NVIDIA_1,
 *                            NVIDIA_2, HUNYUAN, SILICONFLOW); accounts without one use the simulator
 *   SIM_FAIL_RATE, SIM_429_RATE, SIM_HANG_RATE, ... simulator failure rates (see the README)
 */
import fs from 'node:fs';
import path from 'node:path';
import { startNodeRed, repoRoot, type NodeRedInstance } from './nodered-launcher';
import { startOneApiSimulator, demoChannels, startUsageTraffic, seedUsageHistory, type OneApiSimulator, type SimFlavour } from '../simulators/oneapi';
import { startProviderSimulator, type ProviderSimulator } from '../simulators/provider';
import { demoAccounts, DEMO_ACCOUNT_IDS, DEMO_KEYS } from '../simulators/provider/demo-accounts';

type FlowNode = Record<string, unknown> & { id: string; type: string; name?: string };

const SIM_ONEAPI_TOKEN = 'demo-admin-access-token-0001';
const SIM_ONEAPI_PORT = 3000;
const SIM_PROVIDER_PORT = 4010;

/** Reads every examples/**.json file, in menu order. */
export function readExamples(dir = path.join(repoRoot, 'examples')): Array<{ file: string; nodes: FlowNode[] }> {
  const out: Array<{ file: string; nodes: FlowNode[] }> = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) out.push({ file: path.relative(dir, p), nodes: JSON.parse(fs.readFileSync(p, 'utf8')) as FlowNode[] });
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

function rewriteRefs(value: unknown, map: Map<string, string>): unknown {
  if (typeof value === 'string') return map.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, map));
  if (value && typeof value === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) o[k] = k === 'id' ? v : rewriteRefs(v, map);
    return o;
  }
  return value;
}

/**
 * Merges example flows into one deployable set: config nodes of the same type and name
 * become one (so an account keeps one limiter), other clashing ids are renamed.
 */
export function mergeExamples(examples: Array<{ file: string; nodes: FlowNode[] }>): FlowNode[] {
  const merged: FlowNode[] = [];
  const ids = new Set<string>();
  const configByName = new Map<string, string>();
  const isConfig = (n: FlowNode): boolean => !['tab', 'subflow', 'group', 'comment'].includes(n.type) && !Array.isArray(n.wires);
  examples.forEach((ex, i) => {
    const map = new Map<string, string>();
    const keep: FlowNode[] = [];
    for (const n of ex.nodes) {
      if (isConfig(n) && typeof n.name === 'string' && n.name) {
        const key = `${n.type}|${n.name}`;
        const existing = configByName.get(key);
        if (existing) {
          map.set(n.id, existing);
          continue;
        }
        configByName.set(key, n.id);
      }
      if (ids.has(n.id)) map.set(n.id, `${n.id}.${i}`);
      keep.push(n);
    }
    for (const n of keep) {
      const copy = rewriteRefs(n, map) as FlowNode;
      copy.id = map.get(n.id) ?? n.id;
      ids.add(copy.id);
      merged.push(copy);
    }
  });
  return merged;
}

/** Which demo account an llm-provider node stands for, from its name ("NVIDIA account 1" -> nvidia-1). */
export function demoAccountFor(name: unknown): (typeof DEMO_ACCOUNT_IDS)[number] | undefined {
  const n = String(name ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');
  if (n.includes('nvidia')) return n.endsWith('2') ? 'nvidia-2' : 'nvidia-1';
  if (n.includes('hunyuan')) return 'hunyuan';
  if (n.includes('siliconflow') || n.includes('silicon')) return 'siliconflow';
  return undefined;
}

export interface DemoOptions {
  port?: number;
  userDir?: string;
  env?: NodeJS.ProcessEnv;
  echo?: boolean;
  /** simulator ports (0 = any free port; the demo uses 3000 and 4010 so the examples' URLs work as shipped) */
  oneApiPort?: number;
  providerPort?: number;
}

export interface Demo {
  nodeRed: NodeRedInstance;
  oneApi: OneApiSimulator | null;
  provider: ProviderSimulator;
  stop(): Promise<void>;
}

export async function startDemo(opts: DemoOptions = {}): Promise<Demo> {
  const env = opts.env ?? process.env;
  const cleanups: Array<() => Promise<void> | void> = [];
  const stopAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        /* keep stopping the rest */
      }
    }
    cleanups.length = 0;
  };
  try {
    let oneApi: OneApiSimulator | null = null;
    let oneApiUrl = env.ONEAPI_URL;
    if (!oneApiUrl) {
      const flavour = (env.SIM_ONEAPI_FLAVOUR as SimFlavour) || 'new-api-2026';
      oneApi = await startOneApiSimulator({ flavour, accessToken: SIM_ONEAPI_TOKEN, userId: 1, port: opts.oneApiPort ?? SIM_ONEAPI_PORT, host: '127.0.0.1', channels: demoChannels() });
      cleanups.push(() => oneApi?.close());
      const perDay: Record<string, number> = {
        'deepseek-v3-2-251201': 1_500_000,
        'doubao-seed-code-preview-251028': 2_600_000,
        'glm-4-7-251222': 1_200_000,
        'kimi-k2-thinking-251104': 900_000,
      };
      seedUsageHistory(oneApi, { days: 6, tokensPerDayByModel: perDay });
      // Today's traffic: DeepSeek burns through its allowance within minutes, so the demo shows a demotion.
      const traffic = startUsageTraffic(oneApi, {
        tokensPerMinuteByModel: { 'deepseek-v3-2-251201': 250_000, 'doubao-seed-code-preview-251028': 60_000, 'glm-4-7-251222': 40_000, 'kimi-k2-thinking-251104': 30_000 },
        intervalMs: 2000,
      });
      cleanups.push(() => traffic.stop());
      oneApiUrl = oneApi.url;
    }

    const provider = await startProviderSimulator({ accounts: demoAccounts(env), port: opts.providerPort ?? SIM_PROVIDER_PORT, host: '127.0.0.1' });
    cleanups.push(() => provider.close());

    const flows = mergeExamples(readExamples());
    const credentials: Record<string, Record<string, string>> = {};
    const pollSeconds = Number(env.DEMO_POLL_SECONDS || 15);
    for (const n of flows) {
      if (n.type === 'oneapi-server') {
        n.baseUrl = oneApiUrl;
        if (env.ONEAPI_FLAVOUR) n.flavour = env.ONEAPI_FLAVOUR;
        credentials[n.id] = env.ONEAPI_URL
          ? { accessToken: env.ONEAPI_TOKEN ?? '', userId: env.ONEAPI_USER_ID ?? '' }
          : { accessToken: SIM_ONEAPI_TOKEN, userId: '1' };
      } else if (n.type === 'llm-provider') {
        const account = demoAccountFor(n.name);
        const envName = account ? account.toUpperCase().replace(/-/g, '_') : '';
        const realUrl = envName ? env[`LLM_${envName}_URL`] : undefined;
        n.baseUrl = realUrl || provider.url;
        credentials[n.id] = { apiKey: realUrl ? env[`LLM_${envName}_KEY`] ?? '' : account ? DEMO_KEYS[account] : DEMO_KEYS.hunyuan };
      } else if (n.type === 'inject' && typeof n.repeat === 'string' && Number(n.repeat) >= 60 && Number.isFinite(pollSeconds) && pollSeconds > 0) {
        n.repeat = String(pollSeconds);
      }
    }

    const port = opts.port ?? Number(env.PORT || 1880);
    const userDir = opts.userDir ?? env.DEMO_USER_DIR ?? path.join(repoRoot, '.demo');
    const nodeRed = await startNodeRed({ port, userDir, flows, credentials, echo: opts.echo, startTimeoutMs: 60_000 });
    cleanups.push(() => nodeRed.stop());
    return { nodeRed, oneApi, provider, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function main(): Promise<void> {
  const demo = await startDemo({ echo: process.env.DEMO_QUIET ? false : true });
  const url = demo.nodeRed.url;
  console.log('');
  console.log('  LLM router demo is running');
  console.log(`    editor     ${url}/`);
  console.log(`    dashboard  ${url}/ui`);
  console.log(`    One API    ${demo.oneApi ? `${demo.oneApi.url} (simulator, ${demo.oneApi.flavour})` : process.env.ONEAPI_URL}`);
  console.log(`    providers  ${demo.provider.url} (simulator)`);
  console.log('  Ctrl-C stops everything.');
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the demo ...');
    demo.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
