/**
 * Live metrics per candidate ("account/model"): a sliding window of outcomes and latencies.
 *
 * The window is split into a ring of buckets (default 60 s in 12 buckets of 5 s). Each bucket keeps
 * success/failure counts and a small log-scale latency histogram; running totals over the whole
 * window are kept alongside, so `record()` is O(1) and expiring a bucket subtracts it once.
 * p50/p99 are read from the aggregated histogram (80 bins, about ±10 % resolution from 1 ms to
 * roughly 30 minutes). Latency is sampled from successful calls only: a fast "connection refused"
 * must not make a broken account look fast; failures count towards the error rate instead.
 *
 * No timers: time only moves when a method is called, through the injected clock.
 */

export interface MetricsOptions {
  /** length of the sliding window in ms (default 60 000) */
  windowMs?: number;
  /** number of buckets the window is split into (default 12) */
  buckets?: number;
  /** clock, epoch ms (default Date.now) */
  now?: () => number;
  /** keys kept at most; the least recently touched key is dropped beyond it (default 10 000) */
  maxKeys?: number;
}

export interface OutcomeSample {
  key: string;
  ok: boolean;
  latencyMs: number;
}

export interface MetricsSnapshot {
  key: string;
  /** completed requests in the window */
  requests: number;
  successes: number;
  failures: number;
  /** successes / requests, null when nothing completed in the window */
  successRate: number | null;
  /** failures / requests, null when nothing completed in the window */
  errorRate: number | null;
  /** latency of successful requests in the window, null when none */
  p50Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  /** requests started (begin) and not yet ended */
  inFlight: number;
  /** epoch ms of the last failure seen (kept beyond the window), null if none */
  lastErrorAt: number | null;
  windowMs: number;
}

const BINS = 80;
const GROWTH = 1.2;
const LOG_GROWTH = Math.log(GROWTH);
/** representative value of bin i: geometric middle of [GROWTH^(i-1), GROWTH^i) ms; bin 0 = below 1 ms */
const BIN_VALUE: number[] = [];
for (let i = 0; i < BINS; i++) BIN_VALUE.push(i === 0 ? 0.5 : Math.pow(GROWTH, i - 0.5));

function binOf(ms: number): number {
  if (!(ms >= 1)) return 0; // also NaN / negative
  const b = 1 + Math.floor(Math.log(ms) / LOG_GROWTH);
  return b >= BINS ? BINS - 1 : b;
}

interface KeyState {
  /** absolute bucket index of each ring slot (-1 = empty) */
  slotIndex: Float64Array;
  slotOk: Uint32Array;
  slotFail: Uint32Array;
  slotLatSum: Float64Array;
  /** BINS counters per slot, flattened */
  slotHist: Uint32Array;
  totOk: number;
  totFail: number;
  totLatSum: number;
  totHist: Uint32Array;
  /** newest absolute bucket index seen */
  head: number;
  inFlight: number;
  lastErrorAt: number | null;
  /** cached snapshot; null when stale */
  cache: MetricsSnapshot | null;
}

export class MetricsWindow {
  readonly windowMs: number;
  readonly bucketCount: number;
  readonly bucketMs: number;
  private readonly now: () => number;
  private readonly maxKeys: number;
  private readonly states = new Map<string, KeyState>();

  constructor(opts: MetricsOptions = {}) {
    const windowMs = opts.windowMs ?? 60_000;
    const buckets = opts.buckets ?? 12;
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new Error('metrics windowMs must be a positive number');
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > 600) throw new Error('metrics buckets must be an integer 1..600');
    this.windowMs = windowMs;
    this.bucketCount = buckets;
    this.bucketMs = windowMs / buckets;
    this.now = opts.now ?? Date.now;
    this.maxKeys = opts.maxKeys ?? 10_000;
  }

  /** Record one completed request. Latency is sampled only when ok. */
  record(sample: OutcomeSample): void {
    const s = this.state(sample.key, true)!;
    const now = this.now();
    const idx = this.advance(s, now);
    const slot = idx % this.bucketCount;
    if (sample.ok) {
      const lat = Number.isFinite(sample.latencyMs) && sample.latencyMs > 0 ? sample.latencyMs : 0;
      const bin = binOf(lat);
      s.slotOk[slot]++;
      s.totOk++;
      s.slotLatSum[slot] += lat;
      s.totLatSum += lat;
      s.slotHist[slot * BINS + bin]++;
      s.totHist[bin]++;
    } else {
      s.slotFail[slot]++;
      s.totFail++;
      s.lastErrorAt = now;
    }
    s.cache = null;
  }

  /** A request to `key` started. */
  begin(key: string): void {
    const s = this.state(key, true)!;
    s.inFlight++;
    s.cache = null;
  }

  /** A request to `key` ended (call once per begin; extra calls are ignored). */
  end(key: string): void {
    const s = this.state(key, false);
    if (!s || s.inFlight === 0) return;
    s.inFlight--;
    s.cache = null;
  }

  inFlight(key: string): number {
    return this.states.get(key)?.inFlight ?? 0;
  }

  /** Current figures for `key` (an unknown key reads as empty). The result is shared: do not mutate it. */
  snapshot(key: string): MetricsSnapshot {
    const s = this.states.get(key);
    if (!s) return this.empty(key);
    const before = s.head;
    this.advance(s, this.now());
    if (s.cache && s.head === before) return s.cache;
    const requests = s.totOk + s.totFail;
    const snap: MetricsSnapshot = {
      key,
      requests,
      successes: s.totOk,
      failures: s.totFail,
      successRate: requests > 0 ? s.totOk / requests : null,
      errorRate: requests > 0 ? s.totFail / requests : null,
      p50Ms: s.totOk > 0 ? this.percentile(s, 0.5) : null,
      p99Ms: s.totOk > 0 ? this.percentile(s, 0.99) : null,
      meanMs: s.totOk > 0 ? s.totLatSum / s.totOk : null,
      inFlight: s.inFlight,
      lastErrorAt: s.lastErrorAt,
      windowMs: this.windowMs,
    };
    s.cache = snap;
    return snap;
  }

  keys(): string[] {
    return [...this.states.keys()];
  }

  /** Forget one key's figures (or every key's). In-flight counts are kept. */
  reset(key?: string): void {
    const targets = key === undefined ? [...this.states.keys()] : [key];
    for (const k of targets) {
      const s = this.states.get(k);
      if (!s) continue;
      const fresh = this.newState();
      fresh.inFlight = s.inFlight;
      this.states.set(k, fresh);
    }
  }

  private empty(key: string): MetricsSnapshot {
    return {
      key, requests: 0, successes: 0, failures: 0, successRate: null, errorRate: null,
      p50Ms: null, p99Ms: null, meanMs: null, inFlight: 0, lastErrorAt: null, windowMs: this.windowMs,
    };
  }

  private newState(): KeyState {
    const n = this.bucketCount;
    return {
      slotIndex: new Float64Array(n).fill(-1),
      slotOk: new Uint32Array(n),
      slotFail: new Uint32Array(n),
      slotLatSum: new Float64Array(n),
      slotHist: new Uint32Array(n * BINS),
      totOk: 0,
      totFail: 0,
      totLatSum: 0,
      totHist: new Uint32Array(BINS),
      head: -1,
      inFlight: 0,
      lastErrorAt: null,
      cache: null,
    };
  }

  private state(key: string, create: boolean): KeyState | undefined {
    let s = this.states.get(key);
    if (s || !create) return s;
    if (this.states.size >= this.maxKeys) {
      // drop the oldest idle key (insertion order)
      for (const [k, v] of this.states) {
        if (v.inFlight === 0) {
          this.states.delete(k);
          break;
        }
      }
    }
    s = this.newState();
    this.states.set(key, s);
    return s;
  }

  /** Moves the ring to `now`, clearing expired buckets; returns the current absolute bucket index. */
  private advance(s: KeyState, now: number): number {
    const idx = Math.floor(now / this.bucketMs);
    if (idx <= s.head) return s.head; // clock went backwards or same bucket: keep writing to head
    const n = this.bucketCount;
    // Slots that now belong to buckets (head, idx] must be cleared of older data.
    const span = Math.min(idx - s.head, n);
    for (let i = 0; i < span; i++) {
      const abs = idx - i;
      const slot = abs % n;
      if (s.slotIndex[slot] !== -1 && s.slotIndex[slot] !== abs) this.clearSlot(s, slot);
      s.slotIndex[slot] = abs;
    }
    s.head = idx;
    s.cache = null;
    return idx;
  }

  private clearSlot(s: KeyState, slot: number): void {
    if (s.slotOk[slot] === 0 && s.slotFail[slot] === 0) return;
    s.totOk -= s.slotOk[slot];
    s.totFail -= s.slotFail[slot];
    s.totLatSum -= s.slotLatSum[slot];
    if (s.totOk === 0) s.totLatSum = 0; // no float drift once empty
    if (s.slotOk[slot] > 0) {
      const base = slot * BINS;
      for (let b = 0; b < BINS; b++) {
        const c = s.slotHist[base + b];
        if (c) {
          s.totHist[b] -= c;
          s.slotHist[base + b] = 0;
        }
      }
    }
    s.slotOk[slot] = 0;
    s.slotFail[slot] = 0;
    s.slotLatSum[slot] = 0;
  }

  private percentile(s: KeyState, q: number): number {
    const target = Math.max(1, Math.ceil(q * s.totOk));
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      seen += s.totHist[b];
      if (seen >= target) return BIN_VALUE[b];
    }
    return BIN_VALUE[BINS - 1];
  }
}
