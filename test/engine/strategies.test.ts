import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CandidatePlanner, MetricsWindow, orderCandidates, RuleState, STRATEGIES, WrrState,
  type Candidate, type Strategy,
} from '../../engine/strategies';

function clock(start = Date.UTC(2026, 10, 20, 12, 0, 0)) {
  const c = { t: start, now: () => c.t, advance: (ms: number) => { c.t += ms; } };
  return c;
}

function cand(key: string, extra: Partial<Candidate> = {}): Candidate {
  const [provider, model] = key.split('/');
  return { key, provider, model, ...extra };
}

/** Sequential traffic through the planner: every `stepMs` one request goes to the first candidate. */
function drive(planner: CandidatePlanner, candidates: Candidate[], c: ReturnType<typeof clock>, untilMs: number, stepMs: number,
  behave: (key: string, t: number) => { ok: boolean; latencyMs: number }): Array<{ t: number; key: string }> {
  const picks: Array<{ t: number; key: string }> = [];
  const end = c.t + untilMs;
  while (c.t < end) {
    const plan = planner.plan(candidates);
    const key = plan.ordered[0].key;
    picks.push({ t: c.t, key });
    planner.onStart(key);
    const r = behave(key, c.t);
    planner.onResult(key, r);
    c.advance(stepMs);
  }
  return picks;
}

// ---------------------------------------------------------------- metrics window

test('MetricsWindow: counts, success rate, p50/p99 within histogram resolution, in-flight', () => {
  const c = clock();
  const m = new MetricsWindow({ windowMs: 60_000, buckets: 12, now: c.now });
  for (let i = 1; i <= 100; i++) m.record({ key: 'a/x', ok: true, latencyMs: i * 10 }); // 10..1000 ms
  for (let i = 0; i < 25; i++) m.record({ key: 'a/x', ok: false, latencyMs: 1 });
  m.begin('a/x');
  m.begin('a/x');
  m.end('a/x');
  const s = m.snapshot('a/x');
  assert.equal(s.requests, 125);
  assert.equal(s.successes, 100);
  assert.equal(s.failures, 25);
  assert.equal(s.successRate, 0.8);
  assert.equal(s.inFlight, 1);
  assert.equal(s.lastErrorAt, c.t);
  assert.ok(Math.abs(s.p50Ms! - 500) / 500 < 0.11, `p50 ${s.p50Ms}`);
  assert.ok(Math.abs(s.p99Ms! - 990) / 990 < 0.11, `p99 ${s.p99Ms}`);
  assert.ok(Math.abs(s.meanMs! - 505) < 1e-9, 'mean uses successful requests only');
  m.end('a/x');
  m.end('a/x'); // extra end is ignored
  assert.equal(m.snapshot('a/x').inFlight, 0);
});

test('MetricsWindow: samples leave the window bucket by bucket', () => {
  const c = clock(0);
  const m = new MetricsWindow({ windowMs: 10_000, buckets: 10, now: c.now });
  m.record({ key: 'k', ok: true, latencyMs: 100 }); // bucket 0
  c.advance(5_000);
  m.record({ key: 'k', ok: false, latencyMs: 100 }); // bucket 5
  assert.equal(m.snapshot('k').requests, 2);
  c.advance(5_000); // t = 10 000: bucket 0 expired
  let s = m.snapshot('k');
  assert.equal(s.requests, 1);
  assert.equal(s.successes, 0);
  assert.equal(s.p50Ms, null);
  c.advance(4_999);
  assert.equal(m.snapshot('k').requests, 1);
  c.advance(1); // t = 15 000: bucket 5 expired
  s = m.snapshot('k');
  assert.equal(s.requests, 0);
  assert.equal(s.successRate, null);
  assert.equal(s.lastErrorAt, 5_000, 'last error time outlives the window');
  // a long gap clears everything at once
  m.record({ key: 'k', ok: true, latencyMs: 50 });
  c.advance(1_000_000);
  assert.equal(m.snapshot('k').requests, 0);
});

test('MetricsWindow rejects a bad configuration', () => {
  assert.throws(() => new MetricsWindow({ windowMs: 0 }), /windowMs/);
  assert.throws(() => new MetricsWindow({ buckets: 0 }), /buckets/);
});

// ---------------------------------------------------------------- strategies, table-driven

interface Case {
  name: string;
  strategy: Strategy;
  candidates: Candidate[];
  /** metrics per key: [latencies of successes, failures, in flight] */
  metrics?: Record<string, [number[], number, number]>;
  expect: string[];
}

const three = [cand('nv1/m'), cand('nv2/m'), cand('hy/m')];

const cases: Case[] = [
  { name: 'fixed keeps the configured order', strategy: 'fixed', candidates: three,
    metrics: { 'nv1/m': [[900], 3, 4], 'hy/m': [[10], 0, 0] }, expect: ['nv1/m', 'nv2/m', 'hy/m'] },
  { name: 'least-busy: fewest in flight first, ties keep order', strategy: 'least-busy', candidates: three,
    metrics: { 'nv1/m': [[], 0, 3], 'nv2/m': [[], 0, 1], 'hy/m': [[], 0, 1] }, expect: ['nv2/m', 'hy/m', 'nv1/m'] },
  { name: 'least-busy: a saturated idle candidate goes after a busy one', strategy: 'least-busy',
    candidates: [cand('nv1/m', { saturated: true }), cand('nv2/m'), cand('hy/m')],
    metrics: { 'nv2/m': [[], 0, 4], 'hy/m': [[], 0, 2] }, expect: ['hy/m', 'nv2/m', 'nv1/m'] },
  { name: 'lowest-latency: lowest p50 first', strategy: 'lowest-latency', candidates: three,
    metrics: { 'nv1/m': [[400, 400, 400], 0, 0], 'nv2/m': [[120, 130, 125], 0, 0], 'hy/m': [[60, 70, 65], 0, 0] },
    expect: ['hy/m', 'nv2/m', 'nv1/m'] },
  { name: 'lowest-latency: an unmeasured candidate is explored first', strategy: 'lowest-latency', candidates: three,
    metrics: { 'nv1/m': [[400], 0, 0], 'hy/m': [[60], 0, 0] }, expect: ['nv2/m', 'hy/m', 'nv1/m'] },
  { name: 'lowest-latency: an unmeasured candidate with a probe in flight waits behind measured ones',
    strategy: 'lowest-latency', candidates: three,
    metrics: { 'nv1/m': [[400], 0, 0], 'nv2/m': [[], 0, 1], 'hy/m': [[60], 0, 0] }, expect: ['hy/m', 'nv1/m', 'nv2/m'] },
  { name: 'lowest-latency: only failures in the window is not fast', strategy: 'lowest-latency', candidates: three,
    metrics: { 'nv1/m': [[], 5, 0], 'nv2/m': [[300], 0, 0], 'hy/m': [[200], 0, 0] }, expect: ['hy/m', 'nv2/m', 'nv1/m'] },
  { name: 'score: cheaper wins when latency and success are equal', strategy: 'score',
    candidates: [cand('a/m', { priceIn: 2, priceOut: 8 }), cand('b/m', { priceIn: 0.2, priceOut: 0.8 }), cand('c/m', { priceIn: 1, priceOut: 4 })],
    metrics: { 'a/m': [[100, 100], 0, 0], 'b/m': [[100, 100], 0, 0], 'c/m': [[100, 100], 0, 0] }, expect: ['b/m', 'c/m', 'a/m'] },
  { name: 'score: a failing candidate loses to a slower reliable one', strategy: 'score',
    candidates: [cand('a/m', { priceIn: 1, priceOut: 1 }), cand('b/m', { priceIn: 1, priceOut: 1 })],
    metrics: { 'a/m': [[100], 9, 0], 'b/m': [[150, 150, 150], 0, 0] }, expect: ['b/m', 'a/m'] },
  { name: 'score: much faster beats slightly cheaper', strategy: 'score',
    candidates: [cand('a/m', { priceIn: 1, priceOut: 1 }), cand('b/m', { priceIn: 0.9, priceOut: 0.9 })],
    metrics: { 'a/m': [[100, 100], 0, 0], 'b/m': [[1000, 1000], 0, 0] }, expect: ['a/m', 'b/m'] },
  { name: 'any strategy: unhealthy candidates go last', strategy: 'lowest-latency',
    candidates: [cand('nv1/m', { healthy: false }), cand('nv2/m'), cand('hy/m')],
    metrics: { 'nv1/m': [[10], 0, 0], 'nv2/m': [[300], 0, 0], 'hy/m': [[200], 0, 0] }, expect: ['hy/m', 'nv2/m', 'nv1/m'] },
];

for (const tc of cases) {
  test(`orderCandidates ${tc.strategy}: ${tc.name}`, () => {
    const c = clock();
    const metrics = new MetricsWindow({ now: c.now });
    for (const [key, [lats, fails, inflight]] of Object.entries(tc.metrics ?? {})) {
      for (const l of lats) metrics.record({ key, ok: true, latencyMs: l });
      for (let i = 0; i < fails; i++) metrics.record({ key, ok: false, latencyMs: 5 });
      for (let i = 0; i < inflight; i++) metrics.begin(key);
    }
    const r = orderCandidates(tc.strategy, tc.candidates, { metrics, rrState: new WrrState() });
    assert.deepEqual(r.ordered.map((x) => x.key), tc.expect);
    assert.deepEqual(r.explain.map((x) => x.key), tc.expect, 'one explanation per position, same order');
    for (const e of r.explain) assert.ok(e.reason.length > 0);
  });
}

test('orderCandidates: score explanation names latency, success and price', () => {
  const c = clock();
  const metrics = new MetricsWindow({ now: c.now });
  for (let i = 0; i < 99; i++) metrics.record({ key: 'a/m', ok: true, latencyMs: 120 });
  metrics.record({ key: 'a/m', ok: false, latencyMs: 1 });
  const r = orderCandidates('score', [cand('a/m', { priceIn: 0.1, priceOut: 0.26 })], { metrics });
  assert.match(r.explain[0].reason, /^score [01]\.\d\d: p50 1\d\d ms, success 99%, \$0\.14\/M$/);
  assert.equal(typeof r.explain[0].score, 'number');
});

test('orderCandidates rejects an unknown strategy', () => {
  assert.throws(() => orderCandidates('random' as Strategy, three, { metrics: new MetricsWindow() }), /unknown strategy "random"/);
  assert.throws(() => new CandidatePlanner({ strategy: 'nope' as Strategy }), /unknown strategy/);
});

test('every strategy returns each candidate exactly once', () => {
  const planner = new CandidatePlanner({ rules: { maxErrorRate: 0.5, maxP99Ms: 500 } });
  const cs = [cand('a/1', { saturated: true }), cand('a/2', { healthy: false }), cand('b/1', { weight: 0 }), cand('c/1'), cand('d/1')];
  for (const s of STRATEGIES) {
    const r = planner.plan(cs, { strategy: s });
    assert.deepEqual([...r.ordered.map((x) => x.key)].sort(), cs.map((x) => x.key).sort(), s);
  }
});

// ---------------------------------------------------------------- weighted round robin

test('weighted round robin converges to its weights within 2% over 10,000 picks', () => {
  for (const weights of [[5, 3, 2], [1, 1, 1], [10, 1], [7, 2, 1, 0.5]]) {
    const planner = new CandidatePlanner({ strategy: 'weighted-round-robin', affinity: false });
    const cs = weights.map((w, i) => cand(`p${i}/m`, { weight: w }));
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const k = planner.plan(cs).ordered[0].key;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const total = weights.reduce((a, b) => a + b, 0);
    cs.forEach((c, i) => {
      const share = (counts.get(c.key) ?? 0) / 10_000;
      assert.ok(Math.abs(share - weights[i] / total) <= 0.02, `${weights}: ${c.key} share ${share}`);
    });
  }
});

test('weighted round robin is smooth (no bursts), deterministic, and weight 0 is fallback only', () => {
  const run = () => {
    const planner = new CandidatePlanner({ strategy: 'weighted-round-robin' });
    const cs = [cand('a/m', { weight: 5 }), cand('b/m', { weight: 1 }), cand('c/m', { weight: 1 }), cand('z/m', { weight: 0 })];
    return Array.from({ length: 7 }, () => planner.plan(cs));
  };
  const plans = run();
  assert.deepEqual(plans.map((p) => p.ordered[0].key), ['a/m', 'a/m', 'b/m', 'a/m', 'c/m', 'a/m', 'a/m'], 'nginx smooth sequence');
  assert.deepEqual(run().map((p) => p.ordered[0].key), plans.map((p) => p.ordered[0].key));
  for (const p of plans) assert.equal(p.ordered[p.ordered.length - 1].key, 'z/m');
  assert.match(plans[0].explain[3].reason, /fallback only/);
});

for (const pattern of ['periodic', 'random'] as const) {
  test(`weighted round robin skips saturated candidates and keeps the others in proportion (${pattern} saturation)`, () => {
    const planner = new CandidatePlanner({ strategy: 'weighted-round-robin' });
    const counts: Record<string, number> = {};
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let satCount = 0;
    for (let i = 0; i < 10_000; i++) {
      const sat = pattern === 'periodic' ? i % 2 === 0 : rnd() < 0.5; // a is saturated on about half of the requests
      if (sat) satCount++;
      const cs = [cand('a/m', { weight: 2, saturated: sat }), cand('b/m', { weight: 1 }), cand('c/m', { weight: 1 })];
      const plan = planner.plan(cs);
      const first = plan.ordered[0];
      assert.ok(!(sat && first.key === 'a/m'), 'a saturated candidate is never first while others are free');
      if (sat) assert.equal(plan.ordered[2].key, 'a/m', 'saturated goes last');
      counts[first.key] = (counts[first.key] ?? 0) + 1;
    }
    assert.ok(Math.abs(counts['b/m'] - counts['c/m']) / 10_000 <= 0.02, `equal weights stay equal: ${JSON.stringify(counts)}`);
    // a wants half the traffic and is free on about half the requests: it gets most of its free turns
    assert.ok(counts['a/m'] >= 0.8 * (10_000 - satCount), `a keeps its share when free: ${JSON.stringify(counts)}`);
  });
}

test('weighted round robin: a candidate back from a long saturation gets no burst', () => {
  const planner = new CandidatePlanner({ strategy: 'weighted-round-robin' });
  for (let i = 0; i < 1_000; i++) planner.plan([cand('a/m', { saturated: true }), cand('b/m'), cand('c/m')]);
  const picks = Array.from({ length: 12 }, () => planner.plan([cand('a/m'), cand('b/m'), cand('c/m')]).ordered[0].key);
  const maxRun = picks.reduce((acc, k, i) => {
    const run = i > 0 && picks[i - 1] === k ? acc.run + 1 : 1;
    return { run, max: Math.max(acc.max, run) };
  }, { run: 0, max: 0 }).max;
  assert.ok(maxRun <= 2, `picks after saturation: ${picks.join(' ')}`);
  assert.equal(picks.filter((k) => k === 'a/m').length, 4 + 1, 'a catches up by at most one round');
});

// ---------------------------------------------------------------- least busy

test('least-busy never picks a saturated candidate while another is idle (randomised)', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'least-busy', now: c.now });
  for (let trial = 0; trial < 2_000; trial++) {
    const n = 2 + Math.floor(rnd() * 8);
    const cs = Array.from({ length: n }, (_, i) => cand(`acct${i}/m`, { saturated: rnd() < 0.4 }));
    // random in-flight counts through the facade
    for (const x of cs) for (let k = Math.floor(rnd() * 3); k > 0; k--) planner.onStart(x.key);
    const first = planner.plan(cs).ordered[0];
    const idle = cs.filter((x) => !x.saturated && planner.metrics.inFlight(x.key) === 0);
    if (idle.length > 0) {
      assert.ok(!first.saturated, `trial ${trial}: picked saturated ${first.key} while ${idle[0].key} is idle`);
      assert.equal(planner.metrics.inFlight(first.key), 0, 'an idle one is picked');
    }
    for (const x of cs) while (planner.metrics.inFlight(x.key) > 0) planner.onResult(x.key, { ok: true, latencyMs: 10 });
  }
});

test('least-busy spreads concurrent requests across accounts through the facade', () => {
  const planner = new CandidatePlanner({ strategy: 'least-busy' });
  const cs = [cand('nv1/m'), cand('nv2/m'), cand('hy/m')];
  const started: string[] = [];
  for (let i = 0; i < 6; i++) {
    const k = planner.plan(cs).ordered[0].key;
    planner.onStart(k);
    started.push(k);
  }
  assert.deepEqual(started, ['nv1/m', 'nv2/m', 'hy/m', 'nv1/m', 'nv2/m', 'hy/m']);
  planner.onResult('nv2/m', { ok: true, latencyMs: 5 });
  assert.equal(planner.plan(cs).ordered[0].key, 'nv2/m');
});

// ---------------------------------------------------------------- live traffic shifts (controlled clock)

const WINDOW = 10_000;

function slowdownScenario(strategy: Strategy, extra: ConstructorParameters<typeof CandidatePlanner>[0] = {}) {
  const c = clock();
  const planner = new CandidatePlanner({ strategy, windowMs: WINDOW, buckets: 10, now: c.now, ...extra });
  const cs = [cand('fast/m', { priceIn: 1, priceOut: 1 }), cand('other/m', { priceIn: 1, priceOut: 1 })];
  const t0 = c.t;
  const slowFrom = t0 + 30_000;
  const slowUntil = t0 + 60_000;
  const picks = drive(planner, cs, c, 100_000, 100, (key, t) => {
    if (key === 'fast/m') return { ok: true, latencyMs: t >= slowFrom && t < slowUntil ? 2_000 : 50 };
    return { ok: true, latencyMs: 300 };
  });
  const share = (from: number, to: number) => {
    const xs = picks.filter((p) => p.t >= from && p.t < to);
    return xs.filter((p) => p.key === 'fast/m').length / xs.length;
  };
  const firstAway = picks.find((p) => p.t >= slowFrom && p.key !== 'fast/m')!;
  const firstBack = picks.find((p) => p.t >= slowUntil && p.key === 'fast/m' &&
    picks.filter((q) => q.t > p.t && q.t < p.t + 2_000).every((q) => q.key === 'fast/m'))!;
  return { planner, t0, slowFrom, slowUntil, share, firstAway, firstBack };
}

for (const strategy of ['lowest-latency', 'score'] as Strategy[]) {
  test(`${strategy}: traffic moves away from a slowed account within one window and back after recovery`, () => {
    const s = slowdownScenario(strategy);
    assert.ok(s.share(s.t0 + 5_000, s.slowFrom) > 0.95, 'before: the fast account takes the traffic');
    assert.ok(s.firstAway && s.firstAway.t - s.slowFrom <= WINDOW, `moved away after ${s.firstAway?.t - s.slowFrom} ms`);
    assert.ok(s.share(s.slowFrom + WINDOW, s.slowUntil) < 0.05, 'while slow: almost no traffic (only probes)');
    assert.ok(s.firstBack, 'traffic came back');
    assert.ok(s.firstBack.t - s.slowUntil <= WINDOW + 1_000, `came back ${s.firstBack.t - s.slowUntil} ms after recovery`);
    assert.ok(s.share(s.slowUntil + 2 * WINDOW, s.t0 + 100_000) > 0.95, 'after: back on the fast account');
  });
}

test('p99 rule: a slowed account is demoted within one window and restored after recovery (fixed order)', () => {
  const s = slowdownScenario('fixed', { rules: { maxP99Ms: 1_000, minSamples: 5 } });
  assert.ok(s.share(s.t0, s.slowFrom) === 1, 'fixed order: first candidate while healthy');
  assert.ok(s.firstAway.t - s.slowFrom <= WINDOW, `demoted after ${s.firstAway.t - s.slowFrom} ms`);
  assert.ok(s.share(s.slowFrom + WINDOW, s.slowUntil) < 0.05);
  assert.ok(s.firstBack.t - s.slowUntil <= WINDOW + 1_000, `restored ${s.firstBack.t - s.slowUntil} ms after recovery`);
  const planExplain = s.planner.plan([cand('fast/m'), cand('other/m')]).explain;
  assert.match(planExplain[0].reason, /position 1/);
});

test('p99 rule: the slow candidate is demoted with a reason and the rest go fastest first', () => {
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'fixed', now: c.now, rules: { maxP99Ms: 1_000, minSamples: 3 } });
  const cs = [cand('a/m'), cand('b/m'), cand('c/m')];
  for (let i = 0; i < 3; i++) {
    planner.onResult('a/m', { ok: true, latencyMs: 3_000 });
    planner.onResult('b/m', { ok: true, latencyMs: 400 });
    planner.onResult('c/m', { ok: true, latencyMs: 80 });
  }
  const r = planner.plan(cs);
  assert.deepEqual(r.ordered.map((x) => x.key), ['c/m', 'b/m', 'a/m']);
  assert.match(r.explain[0].reason, /latency pressure: fastest first/);
  assert.match(r.explain[2].reason, /^demoted: p99 \d+ ms > 1000 ms in the 60 s window/);
});

test('error-rate rule: demotes a failing candidate, prefers another provider, recovers with hysteresis', () => {
  const c = clock();
  const planner = new CandidatePlanner({
    strategy: 'fixed', now: c.now, windowMs: 60_000,
    rules: { maxErrorRate: 0.5, errorRecoverRate: 0.2, minSamples: 4 },
  });
  const cs = [cand('nv1/think'), cand('nv1/chat'), cand('hy/chat')];
  const order = () => planner.plan(cs).ordered.map((x) => x.key);
  // three failures of four: below minSamples nothing changes
  planner.onResult('nv1/think', { ok: false, latencyMs: 10 });
  planner.onResult('nv1/think', { ok: false, latencyMs: 10 });
  planner.onResult('nv1/think', { ok: false, latencyMs: 10 });
  assert.deepEqual(order(), ['nv1/think', 'nv1/chat', 'hy/chat']);
  planner.onResult('nv1/think', { ok: true, latencyMs: 10 }); // 3/4 = 75 % > 50 %
  const r = planner.plan(cs);
  assert.deepEqual(r.ordered.map((x) => x.key), ['hy/chat', 'nv1/chat', 'nv1/think'], 'other provider first, demoted last');
  assert.match(r.explain[2].reason, /^demoted: error rate 75% > 50%/);
  assert.match(r.explain[1].reason, /provider nv1 has a demoted candidate/);
  // successes bring the rate to 3/10 = 30 %: below the threshold but above recovery -> still demoted
  for (let i = 0; i < 6; i++) planner.onResult('nv1/think', { ok: true, latencyMs: 10 });
  assert.equal(order()[2], 'nv1/think', 'hysteresis keeps it demoted at 30%');
  // 3/15 = 20 % -> recovered
  for (let i = 0; i < 5; i++) planner.onResult('nv1/think', { ok: true, latencyMs: 10 });
  assert.deepEqual(order(), ['nv1/think', 'nv1/chat', 'hy/chat']);
});

test('error-rate rule: once the evidence expires one probe is allowed; a still-broken candidate is demoted again at once', () => {
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'fixed', now: c.now, windowMs: 10_000, rules: { maxErrorRate: 0.5, minSamples: 5 } });
  const cs = [cand('a/m'), cand('b/m')];
  for (let i = 0; i < 5; i++) planner.onResult('a/m', { ok: false, latencyMs: 10 });
  assert.equal(planner.plan(cs).ordered[0].key, 'b/m');
  c.advance(10_001);
  assert.equal(planner.plan(cs).ordered[0].key, 'a/m', 'evidence expired: probe');
  planner.onResult('a/m', { ok: false, latencyMs: 10 });
  assert.equal(planner.plan(cs).ordered[0].key, 'b/m', 'on probation: one failure demotes again');
  c.advance(10_001);
  assert.equal(planner.plan(cs).ordered[0].key, 'a/m');
  planner.onResult('a/m', { ok: true, latencyMs: 10 });
  assert.equal(planner.plan(cs).ordered[0].key, 'a/m', 'recovered');
});

test('rule state: validation of thresholds', () => {
  assert.throws(() => new CandidatePlanner({ rules: { maxErrorRate: 1.5 } }), /maxErrorRate/);
  assert.throws(() => new CandidatePlanner({ rules: { maxP99Ms: 100, p99RecoverMs: 200 } }), /p99RecoverMs/);
  assert.throws(() => new CandidatePlanner({ weights: { latency: -1, success: 0, cost: 0 } }), /weights/);
  const rs = new RuleState();
  assert.deepEqual(rs.flags('unknown'), { errors: false, slow: false });
});

test('plan explanations describe the state at planning time, even when read later, and serialise to JSON', () => {
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'lowest-latency', now: c.now, budget: { dailyUsd: 5 } });
  const cs = [cand('a/m', { priceIn: 1, priceOut: 1 }), cand('b/m', { priceIn: 1, priceOut: 1 })];
  planner.onResult('a/m', { ok: true, latencyMs: 100 });
  planner.onResult('b/m', { ok: true, latencyMs: 300 });
  const plan = planner.plan(cs);
  for (let i = 0; i < 50; i++) planner.onResult('a/m', { ok: true, latencyMs: 5_000 });
  assert.match(plan.explain[0].reason, /^p50 1\d\d ms$/, 'not the later 5 s samples');
  const json = JSON.parse(JSON.stringify(plan));
  assert.deepEqual(json.ordered.map((x: Candidate) => x.key), ['a/m', 'b/m']);
  assert.equal(json.explain.length, 2);
  assert.deepEqual(json.rejected, []);
  assert.equal(planner.plan(cs).ordered[0].key, 'b/m');
});
