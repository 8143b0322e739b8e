/**
 * Adaptive routing in llm-call-with-fallback on the provider simulator:
 * weighted round robin converges to its weights (10,000 requests); least-busy
 * never sends a request to a saturated account while another has room;
 * lowest-latency and score move traffic away from a slowed account within one
 * metrics window and back after it recovers; session affinity keeps a session
 * on its account until that account fails or the TTL ends; a daily budget
 * downgrades to the cheaper candidate and, when nothing is left, ends on
 * output 2 with budget_exhausted (the day rollover is tested at the executor
 * level with the planner's clock, see test/engine/budget-executor.test.ts).
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { helper, providerNode, callNode, buildFlow, collect, type Outcome } from '../support/llm-flow';
import { sleep, waitFor } from '../support/ports';

const KA = 'sk-adaptive-test-account-a';
const KB = 'sk-adaptive-test-account-b';
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({ accounts: [{ key: KA, name: 'A' }, { key: KB, name: 'B' }] });
});
afterEach(async () => {
  await helper.unload();
  for (const k of [KA, KB]) {
    sim.setLatency(k, 0);
    sim.setFaults(k, {});
    sim.setLimits(k, { concurrency: null });
  }
  sim.resetStats();
  sim.resetLimits();
});
after(async () => {
  await sim.close();
  await helper.stopServer?.();
});

interface Setup {
  send(msg: Record<string, unknown>): Promise<Outcome>;
  receive(msg: Record<string, unknown>): void;
  c: ReturnType<typeof collect>;
  node: any;
}

async function load(call: Record<string, unknown>, providers: { a?: Record<string, unknown>; b?: Record<string, unknown> } = {}): Promise<Setup> {
  const { flow, credentials } = buildFlow(
    [
      { id: 'pa', name: 'Account-A', baseUrl: sim.url, apiKey: KA, ...(providers.a ?? {}) },
      { id: 'pb', name: 'Account-B', baseUrl: sim.url, apiKey: KB, ...(providers.b ?? {}) },
    ],
    [{ id: 'call', chain: [{ provider: 'pa', model: 'm' }, { provider: 'pb', model: 'm' }], retries: 0, ...call }],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['call']);
  const node = helper.getNode('call');
  return {
    c,
    node,
    receive: (msg) => node.receive(msg),
    async send(msg) {
      const n = c.outcomes.length;
      node.receive(msg);
      const all = await c.waitFor(n + 1, 10_000);
      return all[n];
    },
  };
}

test('weighted round robin (3:1) over two accounts converges to its weights over 10,000 requests', async () => {
  const s = await load({
    strategy: 'weighted-round-robin',
    chain: [
      { provider: 'pa', model: 'm', weight: 3 },
      { provider: 'pb', model: 'm', weight: 1 },
    ],
  });
  const total = 10_000;
  const wave = 250;
  for (let sent = 0; sent < total; sent += wave) {
    const before = s.c.outcomes.length;
    for (let i = 0; i < wave; i++) s.receive({ payload: `request ${sent + i}` });
    await s.c.waitFor(before + wave, 20_000);
  }
  assert.equal(s.c.outcomes.length, total);
  assert.ok(s.c.outcomes.every((o) => o.where === 'out1'));
  const a = sim.stats(KA).requests;
  const b = sim.stats(KB).requests;
  assert.equal(a + b, total, 'every request reached the upstream once');
  const share = a / total;
  assert.ok(Math.abs(share - 0.75) <= 0.02, `account A got ${(share * 100).toFixed(2)} % (expected 75 % ± 2)`);
  const o = s.c.outcomes[0];
  assert.equal(o.msg.llm.routing.strategy, 'weighted-round-robin');
  assert.match(o.msg.llm.routing.reason, /weighted round robin: picked \(weight [31]\)/);
  const mine = (spy: any) => spy.getCalls().filter((x: any) => x.thisValue === s.node);
  await waitFor(() => /wrr/.test(String(mine(s.node.status).at(-1)?.args[0]?.text)), 2000, 20, 'the strategy in the status');
});

test('least-busy never picks a saturated account while the other has room', async () => {
  sim.setLatency(KA, 25);
  sim.setLatency(KB, 25);
  const s = await load({ strategy: 'least-busy' }, { a: { maxConcurrent: 3 }, b: { maxConcurrent: 3 } });
  for (let round = 0; round < 5; round++) {
    const before = s.c.outcomes.length;
    for (let i = 0; i < 6; i++) s.receive({ payload: `burst ${round}.${i}` });
    const all = await s.c.waitFor(before + 6, 5000);
    const batch = all.slice(before);
    assert.ok(batch.every((o) => o.where === 'out1'));
    for (const o of batch) {
      assert.equal(o.msg.llm.attempts.length, 1, `no skip, no spill-over: ${JSON.stringify(o.msg.llm.attempts)}`);
      assert.equal(o.msg.llm.attempts[0].outcome, 'ok');
      assert.match(o.msg.llm.routing.reason, /in flight/);
    }
    const perAccount = batch.reduce((m, o) => m.set(o.msg.llm.provider, (m.get(o.msg.llm.provider) ?? 0) + 1), new Map<string, number>());
    assert.deepEqual([...perAccount.values()].sort(), [3, 3], 'each burst of 6 is split 3 / 3');
  }
  assert.equal(sim.stats(KA).concurrencyViolations + sim.stats(KB).concurrencyViolations, 0);
  // the same bursts under the fixed order hit A's limit and spill over (what least-busy avoids)
  await helper.unload();
  const f = await load({ strategy: 'fixed' }, { a: { maxConcurrent: 3 }, b: { maxConcurrent: 3 } });
  const before = f.c.outcomes.length;
  for (let i = 0; i < 6; i++) f.receive({ payload: `fixed ${i}` });
  const all = await f.c.waitFor(before + 6, 5000);
  assert.ok(all.slice(before).some((o) => o.msg.llm.attempts.some((x: any) => x.code === 'capacity')), 'the fixed order does run into the saturated account');
});

/**
 * Sends requests one at a time until the share of A over the last `n` satisfies `ok`, or `ms` pass.
 * `since`: ms from the start to the first request of that last run of `n` (when the traffic had moved).
 */
async function until(s: Setup, ms: number, n: number, ok: (share: number) => boolean, label: string): Promise<{ share: number; since: number }> {
  const t0 = Date.now();
  const last: Array<{ a: boolean; at: number }> = [];
  let i = 0;
  for (;;) {
    const at = Date.now() - t0;
    const o = await s.send({ payload: `${label} ${i++}` });
    last.push({ a: o.msg.llm.provider === 'Account-A', at });
    if (last.length > n) last.shift();
    const share = last.filter((x) => x.a).length / last.length;
    if ((last.length === n && ok(share)) || Date.now() - t0 > ms) return { share, since: last[0].at };
  }
}

for (const strategy of ['lowest-latency', 'score'] as const) {
  test(`${strategy}: traffic leaves a slowed account within one window and comes back after it recovers`, async () => {
    const windowS = 0.8;
    sim.setLatency(KA, 4);
    sim.setLatency(KB, 12);
    const s = await load({ strategy, metricsWindow: windowS });
    // A is faster: it takes most of the traffic
    const warm = await until(s, 4000, 20, (x) => x >= 0.8, 'warm');
    assert.ok(warm.share >= 0.8, `A (faster) got ${warm.share} of the last 20`);
    // A slows down: within one window the traffic moves to B
    sim.setLatency(KA, 60);
    const away = await until(s, windowS * 3000, 10, (x) => x <= 0.1, 'slow');
    assert.ok(away.share <= 0.1, `A still got ${away.share} of the last 10`);
    // the old fast samples leave the window bucket by bucket (+ one slow request in flight)
    assert.ok(away.since <= windowS * 1000 + 150, `the traffic moved ${away.since} ms after the slowdown (window ${windowS * 1000} ms)`);
    const o = await s.send({ payload: 'explain' });
    assert.equal(o.msg.llm.provider, 'Account-B');
    assert.match(o.msg.llm.routing.reason, strategy === 'score' ? /^score \d/ : /^p50 /);
    // A recovers (and is the faster one again): the traffic comes back within about two windows
    sim.setLatency(KA, 4);
    const back = await until(s, windowS * 4000, 10, (x) => x >= 0.7, 'back');
    assert.ok(back.share >= 0.7, `A got ${back.share} of the last 10 after it recovered`);
    assert.ok(back.since <= windowS * 2000 + 300, `the traffic came back ${back.since} ms after the recovery`);
  });
}

test('session affinity: a session stays on its account until that account fails, and until the TTL ends', async () => {
  // A has weight 1, B weight 0 (fallback only): without affinity every request goes to A
  const s = await load({
    strategy: 'weighted-round-robin',
    affinityTtl: 0.4,
    chain: [
      { provider: 'pa', model: 'm', weight: 1 },
      { provider: 'pb', model: 'm', weight: 0 },
    ],
  });
  const who = async (session: string | undefined, text: string): Promise<string> => {
    const o = await s.send({ payload: text, ...(session ? { session } : {}) });
    assert.equal(o.where, 'out1');
    return o.msg.llm.provider;
  };
  assert.equal(await who('s1', 'first'), 'Account-A');
  // A fails: s1 moves to B, and stays there after A is back
  sim.setFaults(KA, { error5xx: 1 });
  assert.equal(await who('s1', 'A is failing'), 'Account-B');
  sim.setFaults(KA, {});
  for (let i = 0; i < 5; i++) assert.equal(await who('s1', `sticky ${i}`), 'Account-B');
  const pinned = await s.send({ payload: 'why', session: 's1' });
  assert.match(pinned.msg.llm.routing.reason, /^session affinity/);
  // other sessions and messages without one follow the strategy
  assert.equal(await who('s2', 'another session'), 'Account-A');
  assert.equal(await who(undefined, 'no session'), 'Account-A');
  // the TTL ends: s1 follows the strategy again
  await sleep(450);
  assert.equal(await who('s1', 'after the TTL'), 'Account-A');
});

test('daily budget: paid candidates are skipped for the cheaper one once the budget is (about to be) spent; with none left, output 2 budget_exhausted; warned once', async () => {
  const s = await load({
    budgetDaily: 0.01,
    budgetTz: 'Asia/Shanghai',
    chain: [
      { provider: 'pa', model: 'm', priceIn: 20, priceOut: 60 },
      { provider: 'pb', model: 'm', priceIn: 0, priceOut: 0 },
    ],
  });
  const long = 'please answer this question with a reasonably long sentence so that it costs something';
  let spent = 0;
  let paid = 0;
  let down: Outcome | undefined;
  for (let i = 0; i < 60 && !down; i++) {
    const o = await s.send({ payload: { messages: [{ role: 'user', content: `${long} ${i}` }], max_tokens: 2 } });
    assert.equal(o.where, 'out1');
    if (o.msg.llm.provider === 'Account-B') down = o;
    else {
      paid++;
      assert.ok(o.msg.llm.cost > 0);
      spent += o.msg.llm.cost;
    }
  }
  assert.ok(down, 'requests were downgraded to the free account');
  assert.ok(paid >= 5, `${paid} paid answers first`);
  assert.ok(spent <= 0.01 + 1e-9, `spend ${spent} stays within the budget (estimates included)`);
  assert.ok(spent >= 0.008, `spend ${spent} came close to the budget`);
  assert.equal(down.msg.llm.cost, 0);
  assert.match(down.msg.llm.routing.rejected[0].reason, /budget/);
  const aBefore = sim.stats(KA).requests;
  assert.equal((await s.send({ payload: 'again' })).msg.llm.provider, 'Account-B');
  assert.equal(sim.stats(KA).requests, aBefore, 'no more requests to the paid account today');
  const mine = (spy: any) => spy.getCalls().filter((x: any) => x.thisValue === s.node);
  const warns = mine(s.node.warn).map((w: any) => String(w.args[0]));
  assert.equal(warns.filter((w: string) => /daily budget at \d+%/.test(w)).length, 1, `warned once: ${warns.join(' | ')}`);
  await sleep(600); // the status is debounced
  const texts = mine(s.node.status).map((x: any) => String(x.args[0]?.text));
  // the test runtime returns message keys as they are: the budget suffix shows as its key
  assert.match(texts.at(-1) ?? '', /budget \d+%|status\.budget/, texts.slice(-3).join(' | '));

  // a chain of paid candidates only: nothing fits -> output 2, budget_exhausted, a clear message
  const none = await s.send({ payload: 'paid only', route: [{ provider: 'pa', model: 'm', priceIn: 20, priceOut: 60 }] });
  assert.equal(none.where, 'out2');
  assert.equal(none.msg.error.code, 'budget_exhausted');
  assert.match(none.msg.error.message, /budget/);
  assert.match(none.msg.error.detail, /Account-A\/m: .*budget/);
  assert.equal(sim.stats(KA).requests, aBefore);
});
