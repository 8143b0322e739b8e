/**
 * Chaos: 2,000 messages through llm-call-with-fallback whose first candidate
 * answers 30 % 5xx, 10 % 429 with Retry-After, 5 % hangs, 5 % resets and 2 %
 * malformed bodies, while the last candidate is healthy. Every message gets
 * exactly one outcome, at least 99.9 % succeed, nothing reaches the chaotic
 * account before an announced Retry-After, and no limit is broken.
 *
 * The chaotic account takes one request at a time: then every request it gets
 * was sent after the previous answer had been read, so the simulator's early
 * retry count measures exactly whether the client honours Retry-After. (With
 * several in flight, requests already on their way when a 429 leaves the server
 * can arrive after it; under CPU load in one process that takes longer than the
 * simulator's grace period, and no client could avoid it.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { helper, providerNode, callNode, buildFlow, collect } from '../support/llm-flow';
import { sleep } from '../support/ports';

const KEYS = { chaos: 'sk-sim-chaos-account-key', healthy: 'sk-sim-healthy-account-key' };
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({
    timeScale: 0.05,
    seed: 7,
    accounts: [
      {
        key: KEYS.chaos,
        name: 'Chaos',
        concurrency: 1,
        latencyMs: 4,
        faults: { error5xx: 0.3, rate429: 0.1, retryAfterMs: 60, hang: 0.05, reset: 0.05, malformed: 0.02 },
      },
      { key: KEYS.healthy, name: 'Healthy', concurrency: 20, latencyMs: 4 },
    ],
  });
});
after(async () => {
  await helper.unload();
  await sim.close();
});

test('2,000 messages against a chaotic first candidate: one outcome each, >= 99.9 % answered, no early retry', async () => {
  const { flow, credentials } = buildFlow(
    [
      // the breaker opens after 8 failures in a row (its percentage rule is off, so the chaos keeps coming)
      { id: 'chaos', name: 'Chaos', baseUrl: sim.url, apiKey: KEYS.chaos, maxConcurrent: 1, timeout: 0.15, breakerThreshold: 8, breakerPercent: 0, breakerReset: 0.1 },
      { id: 'healthy', name: 'Healthy', baseUrl: sim.url, apiKey: KEYS.healthy, maxConcurrent: 20 },
    ],
    [
      {
        id: 'call',
        chain: [
          { provider: 'chaos', model: 'glm-4' },
          { provider: 'healthy', model: 'hunyuan-turbos' },
        ],
        retries: 2,
        backoffBase: 5,
        backoffMax: 40,
        maxQueue: 10000,
        queueTimeout: 60,
      },
    ],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['call']);
  const node = helper.getNode('call');
  const N = 2000;
  for (let batch = 0; batch < 40; batch++) {
    for (let i = 0; i < 50; i++) {
      const n = batch * 50 + i;
      node.receive({ _msgid: `c${n}`, payload: n % 2 ? `question ${n}` : { messages: [{ role: 'user', content: `question ${n}` }], max_tokens: 64 } });
    }
    await sleep(120);
  }
  await c.waitFor(N, 45_000);
  await sleep(100); // anything extra would show up now

  const per = c.byMsgId();
  assert.equal(c.outcomes.length, N, 'no message got two outcomes');
  assert.equal(per.size, N);
  const ok = c.outcomes.filter((o) => o.where === 'out1');
  assert.ok(ok.length >= 0.999 * N, `${ok.length} of ${N} answered; failures: ${JSON.stringify(c.outcomes.find((o) => o.where !== 'out1')?.msg.error ?? null)}`);
  for (const o of ok) {
    const n = Number(String(o.msg._msgid).slice(1));
    assert.match(o.msg.payload, new RegExp(`question ${n}$`), 'each answer belongs to its own request');
  }

  const chaos = sim.stats(KEYS.chaos);
  const healthy = sim.stats(KEYS.healthy);
  // the chaos really happened ...
  for (const kind of ['error5xx', 'rate429', 'hang', 'reset', 'malformed']) assert.ok((chaos.injected[kind] ?? 0) > 0, `no ${kind} injected`);
  assert.ok(ok.filter((o) => o.msg.llm.provider === 'Chaos').length > 0, 'the first candidate answered some');
  assert.ok(ok.some((o) => o.msg.llm.attempts.length > 1), 'some answers needed a retry or a fallback');
  // ... and the client behaved
  assert.equal(chaos.earlyRetries, 0, 'a request reached the account before its Retry-After');
  assert.equal(chaos.concurrencyViolations + healthy.concurrencyViolations, 0);
  assert.ok(chaos.maxConcurrentSeen <= 1);
  assert.equal(chaos.rejected429, chaos.injected.rate429 ?? 0, 'every 429 was an injected one, none for a broken limit');
  const text = JSON.stringify(c.outcomes.map((o) => o.msg));
  assert.ok(!text.includes(KEYS.chaos) && !text.includes(KEYS.healthy), 'an API key leaked into a message');
});
