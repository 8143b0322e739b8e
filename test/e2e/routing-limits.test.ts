/**
 * The SPEC §1.2 accounts on the provider simulator (time-scaled: one "minute" is
 * 3 s): NVIDIA-1 and NVIDIA-2 at 40 requests/min and 5 concurrent, Hunyuan
 * unlimited per minute at 5 concurrent. A Tier-1 llm-call-with-fallback node
 * (NVIDIA-1 -> NVIDIA-2 -> Hunyuan) under saturating load: the simulator counts
 * no request beyond any account's limits, the tier order spills over as each
 * account fills up, and the rate-limited accounts are used to their full rate.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { helper, providerNode, callNode, buildFlow, collect } from '../support/llm-flow';

const KEYS = { n1: 'sk-sim-limits-nvidia-1', n2: 'sk-sim-limits-nvidia-2', hy: 'sk-sim-limits-hunyuan' };
const TIME_SCALE = 0.05; // a minute lasts 3 s
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({
    timeScale: TIME_SCALE,
    accounts: [
      { key: KEYS.n1, name: 'NVIDIA-1', rpm: 40, concurrency: 5, latencyMs: 20 },
      { key: KEYS.n2, name: 'NVIDIA-2', rpm: 40, concurrency: 5, latencyMs: 20 },
      { key: KEYS.hy, name: 'Hunyuan', rpm: null, concurrency: 5, latencyMs: 100 },
    ],
  });
});
after(async () => {
  await helper.unload();
  await sim.close();
});

function flowFor(window: number) {
  return buildFlow(
    [
      { id: 'n1', name: 'NVIDIA-1', baseUrl: sim.url, apiKey: KEYS.n1, rpm: 40, maxConcurrent: 5, window },
      { id: 'n2', name: 'NVIDIA-2', baseUrl: sim.url, apiKey: KEYS.n2, rpm: 40, maxConcurrent: 5, window },
      { id: 'hy', name: 'Hunyuan', baseUrl: sim.url, apiKey: KEYS.hy, rpm: '', maxConcurrent: 5, window },
    ],
    [
      {
        id: 'tier1',
        chain: [
          { provider: 'n1', model: 'kimi-k2-thinking' },
          { provider: 'n2', model: 'kimi-k2-thinking' },
          { provider: 'hy', model: 'hunyuan-t1' },
        ],
        maxQueue: 20000,
        queueTimeout: 120,
      },
    ],
  );
}

test('Tier 1 under saturating load: spill-over in tier order, 0 requests beyond any limit, full use of the rate limits', async () => {
  const W = sim.minuteMs;
  const { flow, credentials } = flowFor(W / 1000);
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['tier1']);
  const node = helper.getNode('tier1');

  // A first burst of 15: five per account, in tier order.
  for (let i = 0; i < 15; i++) node.receive({ _msgid: `b${i}`, payload: `burst ${i}` });
  await c.waitFor(15, 10_000);
  const byId = new Map(c.outcomes.map((o) => [String(o.msg._msgid), o]));
  const who = (i: number) => byId.get(`b${i}`)?.msg.llm?.provider;
  assert.deepEqual(
    Array.from({ length: 15 }, (_, i) => who(i)),
    [...Array(5).fill('NVIDIA-1'), ...Array(5).fill('NVIDIA-2'), ...Array(5).fill('Hunyuan')],
  );
  assert.match(byId.get('b0')?.msg.payload, /^\[NVIDIA-1\/kimi-k2-thinking\]/, 'the simulator names the account that answered');

  // Saturation: far more than the three accounts can take at once.
  const N = 700;
  const t0 = Date.now();
  const answeredAt: Array<{ provider: string; at: number }> = [];
  helper.getNode('tier1-o1').on('input', (m: any) => answeredAt.push({ provider: m.llm.provider, at: Date.now() }));
  for (let i = 0; i < N; i++) node.receive({ _msgid: `s${i}`, payload: `load ${i}` });
  await c.waitFor(15 + N, 50_000);
  const T = Date.now() - t0;

  // exactly one outcome per message, all answered
  const per = c.byMsgId();
  assert.equal(per.size, 15 + N);
  assert.ok([...per.values()].every((l) => l.length === 1));
  assert.equal(c.outcomes.filter((o) => o.where !== 'out1').length, 0);

  // the simulator saw nothing beyond any account's limits
  for (const k of Object.values(KEYS)) {
    const s = sim.stats(k);
    assert.equal(s.rpmViolations, 0, `${k} rpm violations`);
    assert.equal(s.concurrencyViolations, 0, `${k} concurrency violations`);
    assert.equal(s.rejected429, 0, `${k} 429s`);
    assert.ok(s.maxConcurrentSeen <= 5, `${k} concurrency ${s.maxConcurrentSeen}`);
  }
  assert.ok(sim.stats(KEYS.n1).maxRequestsInWindow <= 40);
  assert.ok(sim.stats(KEYS.n2).maxRequestsInWindow <= 40);
  // ... and each account did work
  const served = { n1: sim.stats(KEYS.n1).completed, n2: sim.stats(KEYS.n2).completed, hy: sim.stats(KEYS.hy).completed };
  assert.equal(served.n1 + served.n2 + served.hy, 15 + N);

  // The rate-limited accounts ran at (nearly) their full rate in every full window
  // of the saturated period. Each unit is held one window past the end of its
  // request (the upstream counts arrivals), so a few percent are lost by design;
  // bench/call-overhead.ts measures the exact share.
  const k = Math.floor(T / W);
  assert.ok(k >= 2, `the load lasted ${T} ms, expected at least two windows of ${W} ms`);
  for (const name of ['NVIDIA-1', 'NVIDIA-2']) {
    const inFull = answeredAt.filter((a) => a.provider === name && a.at - t0 <= k * W).length;
    assert.ok(inFull >= 0.9 * 40 * k, `${name}: ${inFull} answers in ${k} windows (limit ${40 * k})`);
  }
});
