/** Reads an llm-call-with-fallback node's settings into executor options. */
import type { NodeDef } from '../shared/node-red-types';
import type { ExecutorOptions } from '../../engine/fallback';
import { DEFAULT_WEIGHTS, STRATEGIES, isStrategy, type LiveRules, type ScoreWeights, type Strategy } from '../../engine/strategies';
import { assertTimeZone } from '../../engine/time/zoned';

export interface LlmCallDef extends NodeDef {
  chain?: unknown;
  useRoute?: boolean | string;
  retries?: number | string;
  backoffBase?: number | string;
  backoffMax?: number | string;
  /** seconds */
  maxRetryAfter?: number | string;
  maxAttempts?: number | string;
  /** seconds; 0/empty = each provider's */
  timeout?: number | string;
  maxQueue?: number | string;
  /** seconds */
  queueTimeout?: number | string;
  /** seconds */
  deadline?: number | string;
  failFast?: boolean | string;
  friendly?: string;
  /** 'text' (default): msg.payload = the assistant text; 'openai': msg.payload = the chat completion / OpenAI error body, msg.statusCode */
  outputMode?: string;
  /** stream `stream: true` requests straight to msg.res (an http in node's response) as server-sent events (default true) */
  streamHttp?: boolean | string;
  /** seconds of silence between chunks before a started stream is cut (0/empty: the attempt timeout) */
  streamIdle?: number | string;
  cache?: boolean | string;
  /** seconds */
  cacheTtl?: number | string;
  cacheMax?: number | string;
  cacheForce?: boolean | string;
  strategy?: string;
  scoreLatency?: number | string;
  scoreSuccess?: number | string;
  scoreCost?: number | string;
  /** seconds */
  metricsWindow?: number | string;
  /** percent, empty = rule off */
  ruleErrorRate?: number | string;
  /** ms, empty = rule off */
  ruleP99?: number | string;
  /** message property holding the session id (default 'session') */
  sessionProperty?: string;
  /** seconds a session stays on its account; 0 = no affinity */
  affinityTtl?: number | string;
  /** USD per day, empty = none */
  budgetDaily?: number | string;
  budgetTz?: string;
  /** USD per session, empty = none */
  budgetSession?: number | string;
  allowPaidFallback?: boolean | string;
}

export type OutputMode = 'text' | 'openai';

export interface CacheSettings {
  ttlMs: number;
  maxEntries: number;
  force: boolean;
}

export interface PlanningSettings {
  strategy: Strategy;
  weights: ScoreWeights;
  windowMs: number;
  rules?: LiveRules;
  sessionProperty: string;
  affinityTtlMs: number;
  budget?: { dailyUsd: number | null; timeZone: string; sessionUsd: number | null; allowPaidFallback: boolean };
}

function optNum(v: unknown, what: string, problems: string[], min = 0): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    problems.push(`${what} must be a number >= ${min}`);
    return null;
  }
  return n;
}

export function outputMode(def: LlmCallDef): OutputMode {
  return def.outputMode === 'openai' ? 'openai' : 'text';
}

/** Response cache settings, or null when the cache is off (the default). */
export function cacheSettings(def: LlmCallDef, problems: string[]): CacheSettings | null {
  if (!bool(def.cache, false)) return null;
  const ttl = num(def.cacheTtl, 300, 'cache TTL', problems, 0.001);
  const max = Math.floor(num(def.cacheMax, 1000, 'cache size', problems, 1));
  return { ttlMs: ttl * 1000, maxEntries: Math.max(1, max), force: bool(def.cacheForce, false) };
}

/** Strategy, rules, affinity and budget settings. */
export function planningSettings(def: LlmCallDef, problems: string[]): PlanningSettings {
  let strategy: Strategy = 'fixed';
  if (def.strategy !== undefined && def.strategy !== '') {
    if (isStrategy(def.strategy)) strategy = def.strategy;
    else problems.push(`unknown strategy "${String(def.strategy)}" (one of ${STRATEGIES.join(', ')})`);
  }
  const weights: ScoreWeights = {
    latency: num(def.scoreLatency, DEFAULT_WEIGHTS.latency, 'latency weight', problems),
    success: num(def.scoreSuccess, DEFAULT_WEIGHTS.success, 'success weight', problems),
    cost: num(def.scoreCost, DEFAULT_WEIGHTS.cost, 'cost weight', problems),
  };
  if (weights.latency + weights.success + weights.cost <= 0) {
    problems.push('the score weights must not all be 0');
    weights.latency = DEFAULT_WEIGHTS.latency;
    weights.success = DEFAULT_WEIGHTS.success;
    weights.cost = DEFAULT_WEIGHTS.cost;
  }
  const out: PlanningSettings = {
    strategy,
    weights,
    windowMs: num(def.metricsWindow, 60, 'metrics window', problems, 0.01) * 1000,
    sessionProperty: typeof def.sessionProperty === 'string' && def.sessionProperty.trim() ? def.sessionProperty.trim() : 'session',
    affinityTtlMs: num(def.affinityTtl, 1800, 'affinity TTL', problems) * 1000,
  };
  const errPct = optNum(def.ruleErrorRate, 'error-rate rule', problems);
  const p99 = optNum(def.ruleP99, 'p99 rule', problems, 1);
  if (errPct !== null || p99 !== null) {
    out.rules = {};
    if (errPct !== null) {
      if (errPct >= 100) problems.push('error-rate rule must be below 100 %');
      else out.rules.maxErrorRate = errPct / 100;
    }
    if (p99 !== null) out.rules.maxP99Ms = p99;
  }
  const daily = optNum(def.budgetDaily, 'daily budget', problems);
  const session = optNum(def.budgetSession, 'session budget', problems);
  const allowPaid = bool(def.allowPaidFallback, false);
  const tz = typeof def.budgetTz === 'string' && def.budgetTz.trim() ? def.budgetTz.trim() : 'UTC';
  if (daily !== null || session !== null) {
    try {
      assertTimeZone(tz);
      out.budget = { dailyUsd: daily, timeZone: tz, sessionUsd: session, allowPaidFallback: allowPaid };
    } catch (e) {
      problems.push(`budget time zone: ${(e as Error).message}`);
    }
  }
  return out;
}

function num(v: unknown, dflt: number, what: string, problems: string[], min = 0): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    problems.push(`${what} must be a number >= ${min}`);
    return dflt;
  }
  return n;
}

export function bool(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null || v === '') return dflt;
  return v === true || v === 'true';
}

/** Executor options from the node's settings; problems are collected, defaults used instead. */
export function executorOptions(def: LlmCallDef, problems: string[]): ExecutorOptions {
  const timeoutS = num(def.timeout, 0, 'timeout', problems);
  return {
    retries: Math.floor(num(def.retries, 2, 'retries', problems)),
    backoffBaseMs: num(def.backoffBase, 250, 'backoff base', problems),
    backoffMaxMs: num(def.backoffMax, 8000, 'backoff max', problems),
    maxRetryAfterMs: num(def.maxRetryAfter, 60, 'longest Retry-After', problems) * 1000,
    maxAttempts: Math.floor(num(def.maxAttempts, 10, 'max attempts', problems, 1)),
    timeoutMs: timeoutS > 0 ? timeoutS * 1000 : undefined,
    maxQueue: Math.floor(num(def.maxQueue, 10_000, 'queue size', problems)),
    queueTimeoutMs: num(def.queueTimeout, 60, 'queue timeout', problems, 0.001) * 1000,
    deadlineMs: num(def.deadline, 300, 'deadline', problems, 0.001) * 1000,
    failFastWhenAllOpen: bool(def.failFast, true),
    friendlyMessage: typeof def.friendly === 'string' ? def.friendly : undefined,
  };
}

