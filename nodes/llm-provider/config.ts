/** Reads an llm-provider node's settings into the engine's account config. */
import type { NodeDef } from '../shared/node-red-types';
import type { ModelSpec, ProviderAccountConfig } from '../../engine/providers';

export interface LlmProviderDef extends NodeDef {
  baseUrl?: string;
  models?: unknown;
  rpm?: number | string;
  tpm?: number | string;
  maxConcurrent?: number | string;
  /** request timeout, seconds */
  timeout?: number | string;
  /** rate window, seconds (default 60: per minute) */
  window?: number | string;
  probe?: boolean | string;
  /** seconds */
  probeInterval?: number | string;
  probeMode?: string;
  probeModel?: string;
  breakerThreshold?: number | string;
  /** % of failed calls in 10 s that also opens the breaker (0 = off) */
  breakerPercent?: number | string;
  /** seconds */
  breakerReset?: number | string;
  redisUrl?: string;
  /** % of the account this instance uses while the shared store is unreachable (empty = 100 / instances seen) */
  localShare?: number | string;
}

/** A positive number, or null for empty/0 ("unlimited"); NaN for garbage. */
function optNumber(v: unknown): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) return Number.NaN;
  return n === 0 ? null : n;
}

function readModels(raw: unknown): ModelSpec[] {
  let list: unknown[] = [];
  if (Array.isArray(raw)) list = raw;
  else if (typeof raw === 'string' && raw.trim()) list = raw.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  return list.map((m, i) => {
    if (typeof m === 'string') return { name: m };
    const r = (m && typeof m === 'object' ? m : {}) as Record<string, unknown>;
    const name = typeof r.name === 'string' ? r.name.trim() : '';
    if (!name) throw new Error(`model ${i + 1} has no name`);
    const spec: ModelSpec = { name };
    if (typeof r.upstream === 'string' && r.upstream.trim()) spec.upstream = r.upstream.trim();
    const cw = optNumber(r.contextWindow);
    if (Number.isNaN(cw)) throw new Error(`model "${name}": context window must be a number of tokens`);
    if (cw !== null) spec.contextWindow = Math.floor(cw);
    for (const k of ['priceIn', 'priceOut'] as const) {
      const v = r[k];
      if (v === undefined || v === null || v === '') continue;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`model "${name}": ${k === 'priceIn' ? 'input' : 'output'} price must be a number >= 0 (USD per 1M tokens)`);
      spec[k] = n;
    }
    return spec;
  });
}

/** Builds the engine config from the node's settings; throws with a clear message. */
export function accountConfig(def: LlmProviderDef, apiKey: string, redisPassword = ''): ProviderAccountConfig {
  const num = (v: unknown, what: string): number | null => {
    const n = optNumber(v);
    if (Number.isNaN(n)) throw new Error(`${what} must be a number >= 0 (0 or empty = unlimited)`);
    return n;
  };
  const rpm = num(def.rpm, 'requests per minute');
  const tpm = num(def.tpm, 'tokens per minute');
  const maxConcurrent = num(def.maxConcurrent, 'max concurrent requests');
  const timeoutS = num(def.timeout, 'timeout') ?? 60;
  const windowS = num(def.window, 'rate window') ?? 60;
  const threshold = num(def.breakerThreshold, 'breaker threshold') ?? 5;
  const resetS = num(def.breakerReset, 'breaker reset') ?? 30;
  const percent = def.breakerPercent === undefined || def.breakerPercent === '' ? 50 : Number(def.breakerPercent);
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) throw new Error('breaker failure percentage must be between 0 and 100');
  const cfg: ProviderAccountConfig = {
    id: def.id,
    name: typeof def.name === 'string' && def.name.trim() ? def.name.trim() : def.id,
    baseUrl: typeof def.baseUrl === 'string' ? def.baseUrl : '',
    apiKey,
    models: readModels(def.models),
    limits: { rpm, tpm, maxConcurrent, windowMs: windowS * 1000 },
    timeoutMs: timeoutS * 1000,
    // percentage 0 = off (opossum opens when the failure rate is ABOVE the percentage)
    breaker: { failureThreshold: threshold, resetTimeoutMs: resetS * 1000, errorThresholdPercentage: percent === 0 ? 100 : percent },
    healthProbe: null,
  };
  if (def.probe === true || def.probe === 'true') {
    const every = num(def.probeInterval, 'probe interval') ?? 60;
    cfg.healthProbe = {
      intervalMs: every * 1000,
      mode: def.probeMode === 'completion' ? 'completion' : 'models',
      ...(typeof def.probeModel === 'string' && def.probeModel.trim() ? { model: def.probeModel.trim() } : {}),
    };
  }
  // Limits (and the usage ledger) shared with other Node-RED instances through Redis.
  if (typeof def.redisUrl === 'string' && def.redisUrl.trim()) {
    const url = def.redisUrl.trim();
    if (!/^rediss?:\/\/\S+$/i.test(url)) throw new Error('the shared store must be a redis:// or rediss:// URL');
    let full = url;
    if (redisPassword) {
      // The password lives in the credentials, not in the flow.
      const u = new URL(url);
      u.password = encodeURIComponent(redisPassword);
      full = u.toString();
    }
    cfg.redisUrl = full;
    if (def.localShare !== undefined && def.localShare !== null && def.localShare !== '') {
      const pct = Number(def.localShare);
      if (!Number.isFinite(pct) || pct <= 0 || pct > 100) throw new Error('the local share must be a percentage between 1 and 100 (empty: 100 / instances)');
      cfg.fallbackShare = pct / 100;
    }
  }
  return cfg;
}

