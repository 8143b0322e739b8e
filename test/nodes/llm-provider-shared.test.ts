/**
 * llm-provider: model prices, and the shared store (Redis) settings: limits
 * shared through a real redis-server, the password kept in the credentials, the
 * local share, the process-wide ledger in Redis while the node is deployed.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { providerRegistry } from '../../engine/providers';
import { defaultLedger, MemoryLedgerStore } from '../../engine/ledger/usage-ledger';
import { RedisLedgerStore } from '../../engine/ledger/redis-ledger-store';
import { ClusteredAccountLimiter, sharedLedgerUrl } from '../../engine/shared-store';
import { helper, providerNode, callNode, buildFlow } from '../support/llm-flow';
import { startUpstream, type Upstream } from '../support/llm-upstream';
import { startRedisServer, redisAvailable, type RedisServerHandle } from '../support/redis-server';

const KEY = 'sk-provider-shared-secret-417';
const REDIS_PW = 'redis-pw-secret-8812';
let up: Upstream;
let redis: RedisServerHandle | null = null;
const haveRedis = redisAvailable();

before(async () => {
  helper.init(require.resolve('node-red'));
  up = await startUpstream();
  if (haveRedis.ok) redis = await startRedisServer();
});
afterEach(async () => {
  await helper.unload();
});
after(async () => {
  await up.close();
  await redis?.stop();
  await helper.stopServer?.();
});

function configErrors(id: string): string[] {
  const n = helper.getNode(id);
  return n.error
    .getCalls()
    .filter((c: { thisValue: unknown }) => c.thisValue === n)
    .map((c: { args: unknown[] }) => String(c.args[0]));
}

test('model prices (USD per 1M tokens) are exposed by modelSpec; bad prices are a clear config error', async () => {
  const { flow, credentials } = buildFlow(
    [
      {
        id: 'pp',
        name: 'Priced',
        baseUrl: up.url,
        apiKey: KEY,
        models: [{ name: 'glm-4', priceIn: 0.5, priceOut: '1.5' }, { name: 'free-model' }] as any,
      },
      { id: 'pbad', name: 'Bad price', baseUrl: up.url, apiKey: KEY, models: [{ name: 'x', priceIn: -1 }] as any },
    ],
    [],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  const acc = providerRegistry.get('Priced');
  assert.ok(acc);
  assert.deepEqual(acc.modelSpec('glm-4'), { name: 'glm-4', priceIn: 0.5, priceOut: 1.5 });
  assert.deepEqual(acc.modelSpec('GLM-4'), { name: 'glm-4', priceIn: 0.5, priceOut: 1.5 });
  assert.deepEqual(acc.modelSpec('free-model'), { name: 'free-model' });
  assert.equal(providerRegistry.get('pbad'), undefined);
  assert.match(String(helper.getNode('pbad').configError), /input price must be a number >= 0/);
  assert.equal(configErrors('pbad').length, 1);
});

test('bad shared-store settings are a clear config error', async () => {
  const { flow, credentials } = buildFlow(
    [
      { id: 's1', name: 'Bad URL', baseUrl: up.url, apiKey: KEY, redisUrl: 'http://127.0.0.1:6379' },
      { id: 's2', name: 'Bad share', baseUrl: up.url, apiKey: KEY, redisUrl: 'redis://127.0.0.1:6379', localShare: 150 },
    ],
    [],
  );
  await helper.load([providerNode, callNode], flow, credentials);
  assert.match(String(helper.getNode('s1').configError), /redis:\/\//);
  assert.match(String(helper.getNode('s2').configError), /local share/);
  assert.equal(providerRegistry.get('s1'), undefined);
  assert.equal(providerRegistry.get('s2'), undefined);
});

test('with a Redis URL: shared limits (status connected), password from the credentials, local share, ledger in Redis while deployed', { skip: haveRedis.ok ? false : haveRedis.reason }, async () => {
  const r = redis as RedisServerHandle;
  // The test server has no password: give it one for this test.
  const { default: IORedis } = await import('ioredis');
  const admin = new IORedis(r.url);
  await admin.config('SET', 'requirepass', REDIS_PW);
  admin.disconnect();
  try {
    const { flow, credentials } = buildFlow([{ id: 'sh', name: 'Shared', baseUrl: up.url, apiKey: KEY, rpm: 40, maxConcurrent: 4, redisUrl: r.url, localShare: 50 }], []);
    credentials.sh.redisPassword = REDIS_PW;
    assert.ok(defaultLedger.store instanceof MemoryLedgerStore);
    await helper.load([providerNode, callNode], flow, credentials);
    const acc = providerRegistry.get('Shared');
    assert.ok(acc);
    const lim = acc.sharedLimiter as ClusteredAccountLimiter;
    assert.ok(lim instanceof ClusteredAccountLimiter);
    assert.equal(await lim.waitForState('connected', 3000), true, 'joined Redis with the password from the credentials');
    assert.equal(lim.fallbackShare, 0.5);
    assert.equal(acc.snapshot().shared, 'connected');
    assert.ok(defaultLedger.store instanceof RedisLedgerStore, 'the process-wide ledger lives in Redis');
    assert.equal(sharedLedgerUrl(), acc.redisUrl);
    const res = await helper.request().get('/llm-provider/status').query({ id: 'sh' }).expect(200);
    assert.equal(res.body[0].shared, 'connected');
    assert.ok(!JSON.stringify(res.body).includes(REDIS_PW) && !JSON.stringify(res.body).includes(KEY));
    const out = await acc.attempt('m', { body: { messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(out.kind, 'ok');
    // the shared concurrency count is back to 0 once the request is over
    const check = new IORedis(r.url, { password: REDIS_PW });
    try {
      assert.equal(await check.hget('b_llm-router:sh_settings', 'maxConcurrent'), '4');
    } finally {
      check.disconnect();
    }
    await helper.unload();
    assert.ok((defaultLedger.store as object) instanceof MemoryLedgerStore, 'back to memory once no account uses Redis');
    assert.equal(lim.state, 'stopped');
  } finally {
    const a = new IORedis(r.url, { password: REDIS_PW });
    await a.config('SET', 'requirepass', '').catch(() => undefined);
    a.disconnect();
  }
});
