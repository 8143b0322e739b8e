/**
 * Circuit breakers on the provider simulator: an account failing N times in a
 * row is skipped (nothing more is sent to it), its breaker half-opens after the
 * delay and closes on a successful probe; when every candidate fails the node
 * answers on output 2 with the friendly error, shows the emergency, and recovers
 * by itself when a provider comes back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { providerRegistry } from '../../engine/providers';
import { helper, providerNode, callNode, buildFlow, collect, type Outcome } from '../support/llm-flow';
import { waitFor } from '../support/ports';

const KEYS = { a: 'sk-sim-breaker-account-a', b: 'sk-sim-breaker-account-b' };
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({
    timeScale: 0.05,
    accounts: [
      { key: KEYS.a, name: 'Account-A', concurrency: 5, latencyMs: 2 },
      { key: KEYS.b, name: 'Account-B', concurrency: 5, latencyMs: 2 },
    ],
  });
});
after(async () => {
  await helper.unload();
  await sim.close();
});

test('breakers open after N failures, half-open, close; all failing gives the friendly emergency error, then recovery', async () => {
  const { flow, credentials } = buildFlow(
    [
      { id: 'pa', name: 'Account-A', baseUrl: sim.url, apiKey: KEYS.a, models: [{ name: 'm' }], breakerThreshold: 3, breakerReset: 0.3 },
      { id: 'pb', name: 'Account-B', baseUrl: sim.url, apiKey: KEYS.b, models: [{ name: 'm' }], breakerThreshold: 3, breakerReset: 0.3 },
    ],
    [
      {
        id: 'call',
        chain: [
          { provider: 'pa', model: 'm' },
          { provider: 'pb', model: 'm' },
        ],
        retries: 0,
        failFast: true,
        friendly: 'The assistant is taking a short break. Please try again in a minute.',
      },
    ],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  const node = helper.getNode('call');
  const c = collect(['call']);
  let n = 0;
  const ask = async (): Promise<Outcome> => {
    const before = c.outcomes.length;
    node.receive({ payload: `question ${++n}` });
    const all = await c.waitFor(before + 1, 10_000);
    return all[before];
  };
  const breaker = (id: string) => providerRegistry.get(id)?.snapshot().breakers[0].state;

  // healthy: the first choice answers
  assert.equal((await ask()).msg.llm.provider, 'Account-A');

  // A fails: each request falls back to B; after 3 failures in a row A's breaker opens
  sim.setFaults(KEYS.a, { error5xx: 1 });
  for (let i = 0; i < 3; i++) {
    const o = await ask();
    assert.equal(o.msg.llm.provider, 'Account-B');
    assert.equal(o.msg.llm.attempts[0].code, 'server_error');
  }
  assert.equal(breaker('pa'), 'open');
  const sentToA = sim.stats(KEYS.a).requests;
  const skipped = await ask();
  assert.equal(skipped.msg.llm.provider, 'Account-B');
  assert.equal(skipped.msg.llm.attempts[0].code, 'breaker_open');
  assert.equal(sim.stats(KEYS.a).requests, sentToA, 'nothing is sent to an open breaker');

  // B goes down too: every candidate fails -> output 2, friendly error, emergency status
  sim.setDown(KEYS.b, true);
  const outs: Outcome[] = [];
  for (let i = 0; i < 4; i++) outs.push(await ask());
  assert.ok(outs.every((o) => o.where === 'out2'));
  assert.equal(outs[0].msg.error.message, 'The assistant is taking a short break. Please try again in a minute.');
  assert.equal(outs[0].msg.error.emergency, true);
  assert.ok(['all_candidates_failed', 'all_breakers_open'].includes(outs[0].msg.error.code));
  assert.equal(breaker('pb'), 'open');
  const last = outs.at(-1) as Outcome;
  assert.equal(last.msg.error.code, 'all_breakers_open', 'fail fast while every breaker is open');
  assert.ok(last.msg.error.attempts.every((x: { code: string }) => x.code === 'breaker_open'));
  const mine = (spy: any) => spy.getCalls().filter((x: any) => x.thisValue === node);
  await waitFor(() => mine(node.status).some((s: any) => s.args[0]?.fill === 'red' && /EMERGENCY|emergency/.test(s.args[0]?.text)), 3000, 20, 'emergency status');
  assert.equal(mine(node.warn).length, 1, 'the emergency is raised once');

  // recovery: A comes back; its breaker half-opens and the probe closes it
  sim.setFaults(KEYS.a, {});
  sim.setDown(KEYS.b, false);
  await waitFor(() => breaker('pa') === 'halfOpen', 3000, 10, 'A half-open');
  const back = await ask();
  assert.equal(back.where, 'out1');
  assert.equal(back.msg.llm.provider, 'Account-A');
  assert.equal(breaker('pa'), 'closed');
  await waitFor(() => mine(node.status).at(-1)?.args[0]?.fill === 'green', 3000, 20, 'green status');
  // B recovers on its own too, once its delay is over and A is unavailable
  await waitFor(() => breaker('pb') === 'halfOpen', 3000, 10, 'B half-open');
  assert.equal(providerRegistry.resetBreakers(), 1, 'resetBreakers closes what is still not closed');
  assert.equal(breaker('pb'), 'closed');
});
