// The provider accounts of the reference plan (SPEC §1.2), simulated for the
// demo: two NVIDIA accounts (40 requests/min, 5 concurrent, strong reasoning),
// one Hunyuan account (unlimited requests/min, 5 concurrent, 256k context,
// fastest) and one SiliconFlow account (5 requests/min, embeddings).
// Failure rates are adjustable through environment variables, see faultsFromEnv.

import type { FaultSpec, SimAccount } from './index';

export type Env = Record<string, string | undefined>;

/** Stable ids of the demo accounts (also their display names). */
export const DEMO_ACCOUNT_IDS = ['nvidia-1', 'nvidia-2', 'hunyuan', 'siliconflow'] as const;
export type DemoAccountId = (typeof DEMO_ACCOUNT_IDS)[number];

/** API keys the demo flows use against the simulator (not real credentials). */
export const DEMO_KEYS: Readonly<Record<DemoAccountId, string>> = {
  'nvidia-1': 'sk-sim-nvidia-1-demo',
  'nvidia-2': 'sk-sim-nvidia-2-demo',
  hunyuan: 'sk-sim-hunyuan-demo',
  siliconflow: 'sk-sim-siliconflow-demo',
};

export const DEMO_MODELS: Readonly<Record<DemoAccountId, readonly string[]>> = {
  'nvidia-1': ['deepseek-ai/deepseek-r1', 'qwen/qwen3-235b-a22b', 'moonshotai/kimi-k2-instruct'],
  'nvidia-2': ['deepseek-ai/deepseek-r1', 'qwen/qwen3-235b-a22b', 'moonshotai/kimi-k2-instruct'],
  hunyuan: ['hunyuan-turbos-latest', 'hunyuan-t1-latest', 'hunyuan-lite'],
  siliconflow: ['BAAI/bge-m3', 'Qwen/Qwen2.5-7B-Instruct'],
};

/**
 * Environment variables read by faultsFromEnv. Each one is a probability 0..1
 * (SIM_RETRY_AFTER_MS is in ms, SIM_DOWN a boolean). A per-account variant
 * overrides the global one: SIM_NVIDIA_1_FAIL_RATE, SIM_HUNYUAN_429_RATE, ...
 */
export const FAULT_ENV_VARS: Readonly<Record<string, keyof FaultSpec>> = {
  FAIL_RATE: 'error5xx',
  '429_RATE': 'rate429',
  RETRY_AFTER_MS: 'retryAfterMs',
  HANG_RATE: 'hang',
  RESET_RATE: 'reset',
  MALFORMED_RATE: 'malformed',
  ERROR_BODY_RATE: 'errorBody',
  CUT_STREAM_RATE: 'cutStream',
  BAD_REQUEST_RATE: 'badRequest',
  DOWN: 'down',
};

function envPrefix(accountId?: string): string {
  return accountId ? `SIM_${accountId.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_` : 'SIM_';
}

function parseBool(name: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

/**
 * The fault spec described by the environment: global SIM_<X> variables,
 * overridden by SIM_<ACCOUNT>_<X> when `accountId` is given. Throws a clear
 * error for a value that is not a probability 0..1 (or ms >= 0, or a boolean).
 */
export function faultsFromEnv(env: Env, accountId?: string): FaultSpec {
  const out: FaultSpec = {};
  const prefixes = accountId ? ['SIM_', envPrefix(accountId)] : ['SIM_'];
  for (const prefix of prefixes) {
    for (const [suffix, field] of Object.entries(FAULT_ENV_VARS)) {
      const name = prefix + suffix;
      const raw = env[name];
      if (raw === undefined || raw.trim() === '') continue;
      if (field === 'down') {
        out.down = parseBool(name, raw);
        continue;
      }
      const n = Number(raw);
      if (field === 'retryAfterMs') {
        if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number of ms >= 0, got "${raw}"`);
      } else if (!Number.isFinite(n) || n < 0 || n > 1) {
        throw new Error(`${name} must be a probability between 0 and 1, got "${raw}"`);
      }
      (out as Record<string, number>)[field] = n;
    }
  }
  return out;
}

/**
 * The SPEC §1.2 accounts with realistic latencies, each with the faults the
 * environment asks for. SIM_LATENCY_SCALE (default 1) multiplies every latency.
 */
export function demoAccounts(env: Env = process.env): SimAccount[] {
  const scaleRaw = env.SIM_LATENCY_SCALE;
  const latencyScale = scaleRaw === undefined || scaleRaw.trim() === '' ? 1 : Number(scaleRaw);
  if (!Number.isFinite(latencyScale) || latencyScale < 0) throw new Error(`SIM_LATENCY_SCALE must be a number >= 0, got "${scaleRaw}"`);
  const lat = (ms: number): number => Math.round(ms * latencyScale);
  const base: Record<DemoAccountId, Omit<SimAccount, 'key' | 'faults'>> = {
    'nvidia-1': { name: 'nvidia-1', rpm: 40, concurrency: 5, contextWindow: 128_000, latencyMs: lat(900), jitterMs: lat(600), chunkDelayMs: lat(30) },
    'nvidia-2': { name: 'nvidia-2', rpm: 40, concurrency: 5, contextWindow: 128_000, latencyMs: lat(900), jitterMs: lat(600), chunkDelayMs: lat(30) },
    hunyuan: { name: 'hunyuan', rpm: null, concurrency: 5, contextWindow: 256_000, latencyMs: lat(250), jitterMs: lat(150), chunkDelayMs: lat(10) },
    siliconflow: { name: 'siliconflow', rpm: 5, concurrency: null, contextWindow: 32_000, latencyMs: lat(400), jitterMs: lat(200), chunkDelayMs: lat(20) },
  };
  return DEMO_ACCOUNT_IDS.map((id) => ({
    ...base[id],
    key: DEMO_KEYS[id],
    models: [...DEMO_MODELS[id]],
    faults: faultsFromEnv(env, id),
  }));
}
