import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { providerRegistry } from '../../engine/providers';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { helper, providerNode, callNode, buildFlow } from '../support/llm-flow';
import { startUpstream, type Upstream } from '../support/llm-upstream';

const KEY = 'nvapi-provider-node-secret-991';
let up: Upstream;

before(async () => {
  helper.init(require.resolve('node-red'));
  up = await startUpstream();
});
afterEach(async () => {
  await helper.unload();
});
after(async () => {
  await up.close();
  await helper.stopServer?.();
});

test('registers one shared account with its limits, models and local channels; close removes it', async () => {
  const { flow, credentials } = buildFlow(
    [
      {
        id: 'p1',
        name: 'NVIDIA-1',
        baseUrl: up.url,
        apiKey: KEY,
        rpm: 40,
        maxConcurrent: 5,
        models: [{ name: 'kimi-k2-thinking', upstream: 'moonshotai/kimi-k2-thinking', contextWindow: 128000 }, { name: 'deepseek-v3' }],
      },
    ],
    [],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  const acc = providerRegistry.get('p1');
  assert.ok(acc);
  assert.equal(providerRegistry.get('NVIDIA-1'), acc);
  assert.equal(acc.limiter.rpm, 40);
  assert.equal(acc.limiter.maxConcurrent, 5);
  assert.equal(acc.contextWindow('kimi-k2-thinking'), 128000);
  assert.equal(acc.modelSpec('kimi-k2-thinking')?.upstream, 'moonshotai/kimi-k2-thinking');
  assert.ok(localPriorities.find('NVIDIA-1/kimi-k2-thinking'));
  assert.ok(localPriorities.find('NVIDIA-1/deepseek-v3'));
  const snap = acc.snapshot();
  assert.equal(snap.name, 'NVIDIA-1');
  assert.equal(snap.rpmLimit, 40);
  assert.deepEqual(snap.breakers.map((b) => b.model), ['kimi-k2-thinking', 'deepseek-v3']);
  const r = await acc.attempt('kimi-k2-thinking', { body: { messages: [{ role: 'user', content: 'x' }] } });
  assert.equal(r.kind, 'ok');
  assert.equal(up.requests.at(-1)?.headers.authorization, `Bearer ${KEY}`);
  await helper.unload();
  assert.equal(providerRegistry.get('p1'), undefined);
  assert.equal(acc.closed, true);
});

test('the live status endpoint lists snapshots without credentials', async () => {
  const { flow, credentials } = buildFlow([{ id: 'p2', name: 'Hunyuan', baseUrl: up.url, apiKey: KEY, maxConcurrent: 5 }], []);
  await helper.load([providerNode, callNode], flow, credentials);
  const res = await helper.request().get('/llm-provider/status').query({ id: 'p2' }).expect(200);
  assert.equal(res.body.length, 1);
  assert.equal(res.body[0].name, 'Hunyuan');
  assert.equal(res.body[0].maxConcurrent, 5);
  assert.equal(res.body[0].rpmLimit, null);
  assert.ok(!JSON.stringify(res.body).includes(KEY));
});

test('bad settings give a clear error on the node, without the key, and no account', async () => {
  const { flow, credentials } = buildFlow(
    [
      { id: 'bad1', name: 'Broken URL', baseUrl: `ftp://host/${KEY}`, apiKey: KEY },
      { id: 'bad2', name: 'Broken rpm', baseUrl: up.url, apiKey: KEY, rpm: 'lots' },
      { id: 'bad3', name: 'Broken models', baseUrl: up.url, apiKey: KEY, models: [{ name: 'a' }, { name: 'a' }] },
    ],
    [],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  for (const id of ['bad1', 'bad2', 'bad3']) {
    const n = helper.getNode(id);
    assert.ok(n, `${id} exists`);
    const calls = n.error
      .getCalls()
      .filter((c: { thisValue: unknown }) => c.thisValue === n)
      .map((c: { args: unknown[] }) => String(c.args[0]));
    assert.equal(calls.length, 1, `${id}: one error`);
    assert.match(calls[0], /llm-provider\.errors\.config|invalid settings/);
    assert.ok(!calls[0].includes(KEY), calls[0]);
    assert.equal(providerRegistry.get(id), undefined);
  }
  assert.match(String(helper.getNode('bad1').configError), /http/);
  assert.match(String(helper.getNode('bad2').configError), /requests per minute/);
  assert.match(String(helper.getNode('bad3').configError), /listed twice/);
});

test('unlimited settings (empty or 0) mean no limit', async () => {
  const { flow, credentials } = buildFlow([{ id: 'p3', name: 'Free', baseUrl: up.url, rpm: '', maxConcurrent: 0 }], []);
  await helper.load([providerNode, callNode], flow, credentials);
  const acc = providerRegistry.get('Free');
  assert.ok(acc);
  assert.equal(acc.limiter.rpm, null);
  assert.equal(acc.limiter.maxConcurrent, null);
  assert.equal(acc.limiter.capacityHint(), Infinity);
});
