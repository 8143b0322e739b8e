/**
 * Open-loop load: requests are fired on a fixed schedule (`rate` per second),
 * whether or not earlier ones have answered, as real traffic arrives. Latency is
 * measured from the moment each request is fired to its completion; `lagP99Ms`
 * says how late the generator fired against its schedule (if it is large, the
 * client machine, not the system under test, was the limit).
 */
import { performance } from 'node:perf_hooks';

export interface OpenLoopOptions {
  /** requests per second */
  rate: number;
  /** measured duration (ms) */
  durationMs: number;
  /** sends one request; resolves when its answer is complete, rejects on failure */
  fire: () => Promise<void>;
  /** unmeasured run at the same rate before measuring (ms, default 0) */
  warmupMs?: number;
  /** a request still open this long after the end is counted as an error (ms, default 10,000) */
  timeoutMs?: number;
}

export interface OpenLoopResult {
  /** latency percentiles of successful requests (ms) */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** successful requests measured */
  count: number;
  /** failed or timed-out requests */
  errors: number;
  /** requests fired per second, as achieved */
  achievedRate: number;
  /** how late requests were fired against the schedule, 99th percentile (ms) */
  lagP99Ms: number;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

async function phase(rate: number, durationMs: number, fire: () => Promise<void>, timeoutMs: number, record: boolean) {
  const interval = 1000 / rate;
  const total = Math.max(1, Math.round((durationMs / 1000) * rate));
  const lat = new Float64Array(total);
  const lag = new Float64Array(total);
  let ok = 0;
  let errors = 0;
  let fired = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  while (fired < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - start) / interval) + 1);
    while (fired < due) {
      const i = fired++;
      const t0 = performance.now();
      lag[i] = t0 - (start + i * interval);
      let p: Promise<void>;
      try {
        p = fire();
      } catch (err) {
        p = Promise.reject(err);
      }
      pending.push(
        p.then(
          () => {
            if (record) lat[ok] = performance.now() - t0;
            ok++;
          },
          () => {
            errors++;
          },
        ),
      );
    }
    if (fired < total) {
      const nextAt = start + fired * interval;
      const wait = nextAt - performance.now();
      // setTimeout cannot sleep less than ~1 ms; yield to I/O instead for short waits.
      await new Promise<void>((r) => (wait >= 1.5 ? setTimeout(r, Math.floor(wait)) : setImmediate(r)));
    }
  }
  const elapsed = performance.now() - start;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    Promise.all(pending).then(() => false),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(true), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) errors = total - ok;
  return { lat: lat.subarray(0, Math.min(ok, total)), lag, ok, errors, fired, elapsed };
}

/** Runs the warm-up (if any), then the measured open-loop phase. */
export async function measureOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  if (!(opts.rate > 0) || !(opts.durationMs > 0) || typeof opts.fire !== 'function') throw new Error('measureOpenLoop: rate, durationMs and fire are required');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (opts.warmupMs && opts.warmupMs > 0) await phase(opts.rate, opts.warmupMs, opts.fire, timeoutMs, false);
  const r = await phase(opts.rate, opts.durationMs, opts.fire, timeoutMs, true);
  const lat = Float64Array.from(r.lat).sort();
  const lag = Float64Array.from(r.lag).sort();
  let sum = 0;
  for (const v of lat) sum += v;
  return {
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    max: lat.length ? lat[lat.length - 1] : NaN,
    mean: lat.length ? sum / lat.length : NaN,
    count: r.ok,
    errors: r.errors,
    achievedRate: (r.fired / r.elapsed) * 1000,
    lagP99Ms: percentile(lag, 99),
  };
}

/** Closed-loop capacity: `concurrency` callers each sending back to back for `durationMs`. */
export async function measureClosedLoop(opts: { concurrency: number; durationMs: number; fire: () => Promise<void> }): Promise<{ rate: number; count: number; errors: number }> {
  let count = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + opts.durationMs;
  await Promise.all(
    Array.from({ length: Math.max(1, opts.concurrency) }, async () => {
      while (performance.now() < end) {
        try {
          await opts.fire();
          count++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { rate: (count / (performance.now() - start)) * 1000, count, errors };
}
