/**
 * Live-metric rules with hysteresis:
 * - error rate in the window above `maxErrorRate` -> the candidate is demoted (ordered after the
 *   healthy ones, and other providers are preferred over its provider); it recovers when the error
 *   rate falls to `errorRecoverRate` or below (default half the threshold);
 * - p99 latency above `maxP99Ms` -> the candidate is demoted as slow and the remaining candidates
 *   go fastest first; it recovers at `p99RecoverMs` or below (default 80 % of the threshold).
 * A rule needs `minSamples` completed requests in the window before it demotes. A demoted
 * candidate gets little or no traffic, so its evidence eventually leaves the window: the flag then
 * clears and the candidate is on probation, where a single bad sample demotes it again at once
 * (so a still-broken candidate costs one probe per window, and a recovered one comes back).
 */
import type { MetricsSnapshot } from './metrics';

export interface LiveRules {
  /** demote when failures / requests in the window is above this (0..1); unset = rule off */
  maxErrorRate?: number;
  /** recover when the error rate is at or below this (default maxErrorRate / 2) */
  errorRecoverRate?: number;
  /** demote when the window's p99 latency (successful requests) is above this, ms; unset = rule off */
  maxP99Ms?: number;
  /** recover when p99 is at or below this (default 0.8 × maxP99Ms) */
  p99RecoverMs?: number;
  /** completed requests needed in the window before a rule demotes (default 5) */
  minSamples?: number;
}

export interface RuleFlags {
  errors: boolean;
  slow: boolean;
}

interface FlagState {
  errors: boolean;
  errorsProbation: boolean;
  slow: boolean;
  slowProbation: boolean;
}

export const NO_FLAGS: Readonly<RuleFlags> = Object.freeze({ errors: false, slow: false });

export function validateRules(r: LiveRules): LiveRules {
  const { maxErrorRate, errorRecoverRate, maxP99Ms, p99RecoverMs, minSamples } = r;
  if (maxErrorRate !== undefined && !(maxErrorRate >= 0 && maxErrorRate < 1)) throw new Error('rules.maxErrorRate must be in [0, 1)');
  if (errorRecoverRate !== undefined && !(errorRecoverRate >= 0 && errorRecoverRate <= (maxErrorRate ?? 1))) {
    throw new Error('rules.errorRecoverRate must be in [0, maxErrorRate]');
  }
  if (maxP99Ms !== undefined && !(maxP99Ms > 0)) throw new Error('rules.maxP99Ms must be > 0');
  if (p99RecoverMs !== undefined && !(p99RecoverMs > 0 && p99RecoverMs <= (maxP99Ms ?? Infinity))) {
    throw new Error('rules.p99RecoverMs must be in (0, maxP99Ms]');
  }
  if (minSamples !== undefined && !(Number.isInteger(minSamples) && minSamples >= 1)) throw new Error('rules.minSamples must be an integer >= 1');
  return r;
}

/** Per-candidate rule flags, kept between requests for hysteresis. */
export class RuleState {
  private readonly states = new Map<string, FlagState>();

  /** Updates and returns the flags of `key` from its current snapshot. */
  evaluate(key: string, snap: MetricsSnapshot, rules: LiveRules): RuleFlags {
    let st = this.states.get(key);
    if (!st) {
      if (snap.requests === 0) return NO_FLAGS;
      st = { errors: false, errorsProbation: false, slow: false, slowProbation: false };
      this.states.set(key, st);
    }
    const min = rules.minSamples ?? 5;
    if (rules.maxErrorRate !== undefined) {
      const n = snap.requests;
      const rate = snap.errorRate ?? 0;
      if (st.errors) {
        if (n === 0) {
          st.errors = false;
          st.errorsProbation = true;
        } else if (rate <= (rules.errorRecoverRate ?? rules.maxErrorRate / 2)) {
          st.errors = false;
        }
      } else if (n >= (st.errorsProbation ? 1 : min) && rate > rules.maxErrorRate) {
        st.errors = true;
        st.errorsProbation = false;
      } else if (st.errorsProbation && n >= min) {
        st.errorsProbation = false;
      }
    } else {
      st.errors = false;
    }
    if (rules.maxP99Ms !== undefined) {
      const n = snap.successes;
      const p99 = snap.p99Ms ?? 0;
      if (st.slow) {
        if (n === 0) {
          st.slow = false;
          st.slowProbation = true;
        } else if (p99 <= (rules.p99RecoverMs ?? rules.maxP99Ms * 0.8)) {
          st.slow = false;
        }
      } else if (n >= (st.slowProbation ? 1 : min) && p99 > rules.maxP99Ms) {
        st.slow = true;
        st.slowProbation = false;
      } else if (st.slowProbation && n >= min) {
        st.slowProbation = false;
      }
    } else {
      st.slow = false;
    }
    return st;
  }

  flags(key: string): RuleFlags {
    return this.states.get(key) ?? NO_FLAGS;
  }

  clear(key?: string): void {
    if (key === undefined) this.states.clear();
    else this.states.delete(key);
  }
}
