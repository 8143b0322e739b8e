/**
 * Demo data for the One API simulator: the channels of the quota-guard story (SPEC §1.1) and a
 * usage generator so the dashboard has numbers that move.
 */
import type { OneApiSimulator, SimChannel } from './index';

/** Baseline priorities restored every night (SPEC §1.1). */
export const DEMO_BASELINE_PRIORITIES: Readonly<Record<string, number>> = Object.freeze({
  'deepseek-v3-2-251201': 7,
  'deepseek-v3-1-terminus': 6,
  'glm-4-7-251222': 5,
  'doubao-seed-code-preview-251028': 4,
  'kimi-k2-thinking-251104': 3,
  'doubao-seed-1-6-251015': 1,
});

/** Free allowances in tokens (SPEC §1.1; names as the provider writes them, matched case-insensitively). */
export const DEMO_ALLOWANCES: Readonly<Record<string, number>> = Object.freeze({
  'DeepSeek-V3-2-251201': 1_900_000,
  'Doubao-Seed-Code-Preview-251028': 4_900_000,
  'GLM-4-7-251222': 2_400_000,
  'Kimi-K2-Thinking-251104': 1_900_000,
});

/**
 * Six channels, one per model, with the baseline priorities. The Kimi channel also serves
 * kimi-k2-turbo-preview, so demoting it affects two models (the multi-model flag).
 * Keys are fake placeholders.
 */
export const DEMO_CHANNELS: readonly SimChannel[] = Object.freeze([
  { id: 1, name: 'volc-deepseek-v3-2', models: ['deepseek-v3-2-251201'], priority: 7, weight: 0, status: 1, key: 'demo-key-volc-deepseek-v32-0001', type: 1, group: 'default', tag: 'volcengine' },
  { id: 2, name: 'volc-deepseek-v3-1-terminus', models: ['deepseek-v3-1-terminus'], priority: 6, weight: 0, status: 1, key: 'demo-key-volc-deepseek-v31-0002', type: 1, group: 'default', tag: 'volcengine' },
  { id: 3, name: 'volc-glm-4-7', models: ['glm-4-7-251222'], priority: 5, weight: 0, status: 1, key: 'demo-key-volc-glm47-00000003', type: 1, group: 'default', tag: 'volcengine' },
  { id: 4, name: 'volc-doubao-seed-code', models: ['doubao-seed-code-preview-251028'], priority: 4, weight: 0, status: 1, key: 'demo-key-volc-seedcode-000004', type: 1, group: 'default', tag: 'volcengine' },
  {
    id: 5,
    name: 'volc-kimi-k2',
    models: ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview'],
    priority: 3,
    weight: 0,
    status: 1,
    key: 'demo-key-volc-kimi-k2-0000005',
    type: 1,
    group: 'default',
    tag: 'volcengine',
  },
  { id: 6, name: 'volc-doubao-seed-1-6', models: ['doubao-seed-1-6-251015'], priority: 1, weight: 0, status: 1, key: 'demo-key-volc-seed16-0000006', type: 1, group: 'default', tag: 'volcengine' },
] as SimChannel[]).map((c) => Object.freeze({ ...c, models: [...c.models] })) as readonly SimChannel[];

/** Fresh mutable copies of the demo channels (for startOneApiSimulator({channels})). */
export function demoChannels(): SimChannel[] {
  return DEMO_CHANNELS.map((c) => ({ ...c, models: [...c.models] }));
}

export interface UsageTrafficOptions {
  /** average tokens per minute per model */
  tokensPerMinuteByModel: Record<string, number>;
  /** how often usage is added (default 2000 ms) */
  intervalMs?: number;
  /** share of prompt tokens (default 0.7) */
  promptShare?: number;
  /** random spread around the average, 0..1 (default 0.5) */
  jitter?: number;
  /** random source (default Math.random), for repeatable runs */
  random?: () => number;
}

/**
 * Adds usage to the simulator every `intervalMs`, roughly `tokensPerMinuteByModel` per model.
 * Returns stop(); the timer does not keep the process alive.
 */
export function startUsageTraffic(sim: Pick<OneApiSimulator, 'addUsage'>, opts: UsageTrafficOptions): { stop(): void } {
  const interval = Math.max(50, opts.intervalMs ?? 2000);
  const promptShare = Math.min(1, Math.max(0, opts.promptShare ?? 0.7));
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
  const rnd = opts.random ?? Math.random;
  const tick = (): void => {
    for (const [model, perMinute] of Object.entries(opts.tokensPerMinuteByModel)) {
      if (!(perMinute > 0)) continue;
      const avg = (perMinute * interval) / 60000;
      const tokens = Math.max(0, Math.round(avg * (1 - jitter + 2 * jitter * rnd())));
      if (tokens === 0) continue;
      const promptTokens = Math.round(tokens * promptShare);
      sim.addUsage({ model, promptTokens, completionTokens: tokens - promptTokens, requests: Math.max(1, Math.round(tokens / 4000)) });
    }
  };
  const timer = setInterval(tick, interval);
  timer.unref?.();
  return {
    stop() {
      clearInterval(timer);
    },
  };
}

/**
 * Adds past usage for the last `days` days (all before now) so 7-day trends have history.
 * `tokensPerDayByModel` is the average; each day varies by ±40 %.
 */
export function seedUsageHistory(
  sim: Pick<OneApiSimulator, 'addUsage'>,
  opts: { days: number; tokensPerDayByModel: Record<string, number>; now?: number; random?: () => number },
): void {
  const rnd = opts.random ?? Math.random;
  const now = opts.now ?? Date.now();
  for (let d = 1; d <= opts.days; d++) {
    for (const [model, perDay] of Object.entries(opts.tokensPerDayByModel)) {
      const tokens = Math.round(perDay * (0.6 + 0.8 * rnd()));
      if (tokens <= 0) continue;
      // spread over four points in the day
      for (let k = 0; k < 4; k++) {
        const part = Math.round(tokens / 4);
        const prompt = Math.round(part * 0.7);
        sim.addUsage({ model, time: now - d * 86400_000 + k * 3 * 3600_000, promptTokens: prompt, completionTokens: part - prompt, requests: Math.max(1, Math.round(part / 4000)) });
      }
    }
  }
}
