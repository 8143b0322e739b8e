/** Reads an llm-call-with-fallback node's settings into executor options. */
import type { NodeDef } from '../shared/node-red-types';
import type { ExecutorOptions } from '../../engine/fallback';

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

