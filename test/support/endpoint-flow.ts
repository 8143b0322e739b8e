/**
 * The OpenAI-compatible endpoint example (examples/03) pointed at the provider
 * simulator, the way the demo does it: each llm-provider's base URL becomes the
 * simulator's and its API key the simulated account's key (by account name).
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths';
import type { SimAccount } from '../../simulators/provider';

export const ENDPOINT_EXAMPLE = path.join(repoRoot, 'examples', '03 OpenAI-compatible endpoint.json');

export const ENDPOINT_KEYS = {
  'nvidia-1': 'sk-endpoint-test-nvidia-1',
  'nvidia-2': 'sk-endpoint-test-nvidia-2',
  hunyuan: 'sk-endpoint-test-hunyuan',
} as const;

export type EndpointAccount = keyof typeof ENDPOINT_KEYS;

/** The simulated accounts behind the example's three providers (fast: a few ms each). */
export function endpointAccounts(overrides: Partial<Record<EndpointAccount, Partial<SimAccount>>> = {}): SimAccount[] {
  const base: Record<EndpointAccount, SimAccount> = {
    'nvidia-1': { key: ENDPOINT_KEYS['nvidia-1'], name: 'nvidia-1', concurrency: 5, latencyMs: 3, chunkDelayMs: 1 },
    'nvidia-2': { key: ENDPOINT_KEYS['nvidia-2'], name: 'nvidia-2', concurrency: 5, latencyMs: 3, chunkDelayMs: 1 },
    hunyuan: { key: ENDPOINT_KEYS.hunyuan, name: 'hunyuan', concurrency: 5, latencyMs: 2, chunkDelayMs: 1 },
  };
  return (Object.keys(base) as EndpointAccount[]).map((k) => ({ ...base[k], ...(overrides[k] ?? {}) }));
}

function accountOf(name: unknown): EndpointAccount | undefined {
  const n = String(name ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');
  if (n.includes('nvidia')) return n.endsWith('2') ? 'nvidia-2' : 'nvidia-1';
  if (n.includes('hunyuan')) return 'hunyuan';
  return undefined;
}

/** The example's nodes with providers on `simUrl`, and their credentials. */
export function endpointFlow(simUrl: string): { flows: Array<Record<string, any>>; credentials: Record<string, Record<string, string>> } {
  const flows = JSON.parse(fs.readFileSync(ENDPOINT_EXAMPLE, 'utf8')) as Array<Record<string, any>>;
  const credentials: Record<string, Record<string, string>> = {};
  for (const n of flows) {
    if (n.type !== 'llm-provider') continue;
    const acc = accountOf(n.name);
    if (!acc) throw new Error(`example 03: no simulated account for provider "${n.name}"`);
    n.baseUrl = simUrl;
    credentials[n.id] = { apiKey: ENDPOINT_KEYS[acc] };
  }
  return { flows, credentials };
}
