/**
 * llm-call-with-fallback's response cache, counted from the upstream (the
 * provider simulator): a hit answers with msg.llm.cached = true and no request;
 * other parameters, messages or first candidate miss; sampled requests are not
 * cached unless forced; streams never; the size bound and the TTL hold; a hit
 * is a copy. Also the OpenAI output mode on a hit.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { helper, providerNode, callNode, buildFlow, collect, type Outcome } from '../support/llm-flow';
import { sleep } from '../support/ports';

const KA = 'sk-cache-node-test-account-a';
const KB = 'sk-cache-node-test-account-b';
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({ accounts: [{ key: KA, name: 'A' }, { key: KB, name: 'B' }] });
});
afterEach(async () => {
  await helper.unload();
  sim.resetStats();
});
after(async () => {
  await sim.close();
  await helper.stopServer?.();
});

async function load(call: Record<string, unknown>) {
  const { flow, credentials } = buildFlow(
    [
      { id: 'pa', name: 'Account-A', baseUrl: sim.url, apiKey: KA },
      { id: 'pb', name: 'Account-B', baseUrl: sim.url, apiKey: KB },
    ],
    [{ id: 'call', chain: [{ provider: 'pa', model: 'm1' }, { provider: 'pb', model: 'm2' }], cache: true, cacheTtl: 60, cacheMax: 100, ...call }],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['call']);
  const node = helper.getNode('call');
  return async (msg: Record<string, unknown>): Promise<Outcome> => {
    const n = c.outcomes.length;
    node.receive(msg);
    const all = await c.waitFor(n + 1, 5000);
    return all[n];
  };
}

const req = (content: string, extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content }], temperature: 0, ...extra });
const upstream = () => sim.stats(KA).requests + sim.stats(KB).requests;

test('a repeated temperature-0 request is answered from the cache: cached: true, no upstream call, its own copy', async () => {
  const send = await load({});
  const first = await send({ payload: req('what is 2 + 2') });
  assert.equal(first.where, 'out1');
  assert.equal(first.msg.llm.cached, false);
  assert.equal(upstream(), 1);
  first.msg.response.choices[0].message.content = 'changed downstream';
  const second = await send({ payload: req('what is 2 + 2', { user: 'someone-else', stream_options: null }) });
  assert.equal(second.where, 'out1');
  assert.equal(second.msg.llm.cached, true);
  assert.equal(second.msg.llm.cost, 0);
  assert.deepEqual(second.msg.llm.attempts, []);
  assert.equal(second.msg.payload, '[A/m1] what is 2 + 2');
  assert.equal(second.msg.response.choices[0].message.content, '[A/m1] what is 2 + 2', 'a change to an earlier msg.response does not reach the cache');
  assert.equal(second.msg.llm.provider, 'Account-A');
  assert.equal(upstream(), 1, 'no upstream call for the hit');
  // key order does not matter
  const third = await send({ payload: { temperature: 0, messages: [{ content: 'what is 2 + 2', role: 'user' }] } });
  assert.equal(third.msg.llm.cached, true);
  assert.equal(upstream(), 1);
});

test('differing parameters, messages or first candidate miss', async () => {
  const send = await load({});
  await send({ payload: req('hello cache') });
  assert.equal(upstream(), 1);
  const misses: Array<Record<string, unknown>> = [
    { payload: req('hello cache', { max_tokens: 5 }) },
    { payload: req('hello cache', { top_p: 0.5 }) },
    { payload: req('hello cache!') },
    { payload: { messages: [{ role: 'system', content: 'be terse' }, { role: 'user', content: 'hello cache' }], temperature: 0 } },
    { payload: req('hello cache'), route: [{ provider: 'pb', model: 'm2' }] },
    { payload: req('hello cache'), route: [{ provider: 'pa', model: 'm3' }] },
  ];
  for (const m of misses) {
    const o = await send(m);
    assert.equal(o.msg.llm.cached, false, JSON.stringify(m));
  }
  assert.equal(upstream(), 1 + misses.length);
  // the same first candidate by name or by id is the same key
  const byName = await send({ payload: req('hello cache'), route: [{ provider: 'Account-A', model: 'm1' }] });
  assert.equal(byName.msg.llm.cached, true);
});

test('sampled requests are not cached unless forced; streams never are', async () => {
  const send = await load({});
  for (let i = 0; i < 2; i++) {
    assert.equal((await send({ payload: { messages: [{ role: 'user', content: 'sampled' }], temperature: 0.7 } })).msg.llm.cached, false);
    assert.equal((await send({ payload: 'no temperature at all' })).msg.llm.cached, false);
  }
  assert.equal(upstream(), 4);
  await helper.unload();
  sim.resetStats();
  const forced = await load({ cacheForce: true });
  await forced({ payload: { messages: [{ role: 'user', content: 'sampled' }], temperature: 0.7 } });
  const hit = await forced({ payload: { messages: [{ role: 'user', content: 'sampled' }], temperature: 0.7 } });
  assert.equal(hit.msg.llm.cached, true);
  assert.equal(upstream(), 1);
  // streams are neither stored nor answered from the cache
  const c = collect(['call']);
  for (let i = 0; i < 2; i++) {
    helper.getNode('call').receive({ payload: { messages: [{ role: 'user', content: 'sampled' }], temperature: 0.7, stream: true } });
    await new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const iv = setInterval(() => {
        if (c.outcomes.filter((o) => o.msg.stream?.done === true).length === i + 1) {
          clearInterval(iv);
          resolve();
        } else if (Date.now() - t0 > 5000) {
          clearInterval(iv);
          reject(new Error('no final stream message'));
        }
      }, 5);
    });
  }
  assert.equal(upstream(), 3);
});

test('the size bound holds: the least recently used answer is dropped', async () => {
  const send = await load({ cacheMax: 2 });
  await send({ payload: req('one') });
  await send({ payload: req('two') });
  assert.equal((await send({ payload: req('one') })).msg.llm.cached, true); // "one" is now most recent
  await send({ payload: req('three') }); // evicts "two"
  assert.equal(upstream(), 3);
  assert.equal((await send({ payload: req('one') })).msg.llm.cached, true);
  assert.equal((await send({ payload: req('three') })).msg.llm.cached, true);
  assert.equal((await send({ payload: req('two') })).msg.llm.cached, false, 'evicted');
  assert.equal(upstream(), 4);
});

test('an answer expires after the TTL', async () => {
  const send = await load({ cacheTtl: 0.15 });
  await send({ payload: req('short lived') });
  assert.equal((await send({ payload: req('short lived') })).msg.llm.cached, true);
  await sleep(200);
  assert.equal((await send({ payload: req('short lived') })).msg.llm.cached, false);
  assert.equal(upstream(), 2);
});

test('the cache is off by default; OpenAI mode answers a hit with the completion, 200 and x-llm-cache', async () => {
  const off = await load({ cache: undefined });
  await off({ payload: req('no cache here') });
  assert.equal((await off({ payload: req('no cache here') })).msg.llm.cached, false);
  assert.equal(upstream(), 2);
  await helper.unload();
  const send = await load({ outputMode: 'openai' });
  await send({ payload: req('openai shape') });
  const hit = await send({ payload: req('openai shape') });
  assert.equal(hit.msg.statusCode, 200);
  assert.equal(hit.msg.payload.object, 'chat.completion');
  assert.equal(hit.msg.payload.choices[0].message.content, '[A/m1] openai shape');
  assert.equal(hit.msg.headers['x-llm-cache'], 'hit');
  assert.equal(hit.msg.headers['x-llm-provider'], 'Account-A');
});
