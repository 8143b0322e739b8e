import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { nodeModule } from '../support/paths';
import { startOneApiSimulator, type OneApiSimulator } from '../../simulators/oneapi';
import { OneApiError, type OneApiClient } from '../../engine/oneapi/client';
import { CHANNEL_KEY_PREFIX, TOKEN, manyChannels } from '../support/oneapi-fixtures';
import type { OneApiServerNode } from '../../nodes/oneapi-server/api';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const serverModule = nodeModule('oneapi-server');

let sim: OneApiSimulator;
before(async () => {
  sim = await startOneApiSimulator({ flavour: 'new-api-2025', accessToken: TOKEN, userId: 7, channels: manyChannels(30) });
});
after(async () => {
  await sim.close();
});
afterEach(async () => {
  await helper.unload();
  sim.reset();
});

function flow(extra: Record<string, unknown> = {}) {
  return [
    { id: 'tab1', type: 'tab', label: 'Quota' },
    { id: 'srv1', type: 'oneapi-server', name: 'gateway', baseUrl: sim.url, flavour: 'detect', timeout: 3000, dryRun: false, ...extra },
  ];
}

function logText(): string {
  const spy = helper.log() as unknown as { args: unknown[][] };
  return JSON.stringify(spy.args);
}

test('loads with credentials, shares one client, and the flow JSON carries no token', async () => {
  await helper.load(serverModule as any, flow(), { srv1: { accessToken: TOKEN, userId: '7' } });
  const n = helper.getNode('srv1') as unknown as OneApiServerNode;
  assert.ok(n, 'node started');
  const c1: OneApiClient = n.getClient();
  assert.equal(n.getClient(), c1, 'one shared client');
  assert.equal(await c1.flavour(), 'new-api');
  const channels = await c1.listChannels();
  assert.equal(channels.length, 30);
  assert.ok(sim.requests().some((r) => r.headers['new-api-user'] === '7'), 'user id credential sent as New-Api-User');
  const exported = JSON.stringify((helper as any)._redNodes.getFlows());
  assert.ok(exported.includes('"oneapi-server"'));
  assert.ok(!exported.includes(TOKEN), 'token in the exported flow');
  assert.ok(!JSON.stringify(flow()).includes(TOKEN));
});

test('closing the node closes the client', async () => {
  await helper.load(serverModule as any, flow(), { srv1: { accessToken: TOKEN, userId: '7' } });
  const client = (helper.getNode('srv1') as unknown as OneApiServerNode).getClient();
  sim.setMode({ delayMs: 2000 });
  const pending = client.listChannels().then(
    () => 'resolved',
    (e: unknown) => (e instanceof OneApiError ? e.code : 'other'),
  );
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await helper.unload();
  assert.equal(await pending, 'UNREACHABLE');
  assert.ok(Date.now() - t0 < 1500, 'in-flight request aborted on close');
  sim.setMode({ delayMs: 0 });
});

test('missing token: the node loads, warns without secrets, getClient() throws BAD_CONFIG', async () => {
  await helper.load(serverModule as any, flow({ baseUrl: 'ftp://nope' }), { srv1: { accessToken: TOKEN } });
  const n = helper.getNode('srv1') as unknown as OneApiServerNode;
  assert.throws(
    () => n.getClient(),
    (e: unknown) => e instanceof OneApiError && e.code === 'BAD_CONFIG',
  );
  await helper.unload();
  await helper.load(serverModule as any, flow(), {});
  const n2 = helper.getNode('srv1') as unknown as OneApiServerNode;
  assert.throws(
    () => n2.getClient(),
    (e: unknown) => e instanceof OneApiError && e.code === 'BAD_CONFIG' && /access token is missing/.test(e.message),
  );
  assert.match(logText(), /access token is missing/, 'the configuration problem is shown on the node');
  assert.ok(!logText().includes(TOKEN));
});

test('dry run: writes are logged, not sent, and the log line carries no secret', async () => {
  await helper.load(serverModule as any, flow({ dryRun: true, flavour: 'new-api' }), { srv1: { accessToken: TOKEN, userId: '7' } });
  const n = helper.getNode('srv1') as unknown as OneApiServerNode;
  const [r] = await n.getClient().updateChannel(3, { priority: 0 }, { old: 3 });
  assert.equal(r.dryRun, true);
  assert.equal(sim.writes().length, 0);
  const logs = logText();
  assert.match(logs, /dry run, not sent: PUT \/api\/channel\/ \{\\"id\\":3,\\"priority\\":0\}/);
  assert.ok(!logs.includes(TOKEN));
});

test('test-connection endpoint: reports flavour, version and channel count, never the token', async () => {
  await helper.load(serverModule as any, flow(), { srv1: { accessToken: TOKEN, userId: '7' } });
  const fresh = await helper.request().post('/oneapi-server/test').send({ baseUrl: sim.url, flavour: 'detect', accessToken: TOKEN, userId: '7' }).expect(200);
  assert.deepEqual(fresh.body, { ok: true, flavour: 'new-api', version: 'v0.6.6.2', channels: 30 });
  // an unchanged password field arrives as the placeholder: the deployed credentials are used
  const stored = await helper.request().post('/oneapi-server/test').send({ id: 'srv1', baseUrl: sim.url, flavour: 'detect', accessToken: '__PWRD__' }).expect(200);
  assert.equal(stored.body.ok, true);
  assert.equal(stored.body.channels, 30);
  // ... but only towards the server they were saved for
  const elsewhere = await helper.request().post('/oneapi-server/test').send({ id: 'srv1', baseUrl: 'http://127.0.0.1:1', accessToken: '__PWRD__' }).expect(200);
  assert.equal(elsewhere.body.ok, false);
  assert.equal(elsewhere.body.code, 'BAD_CONFIG');
  const wrong = await helper.request().post('/oneapi-server/test').send({ baseUrl: sim.url, flavour: 'new-api', accessToken: `${TOKEN}x`, userId: '7' }).expect(200);
  assert.equal(wrong.body.ok, false);
  assert.equal(wrong.body.code, 'UNAUTHORIZED');
  for (const r of [fresh, stored, elsewhere, wrong]) {
    assert.ok(!r.text.includes(TOKEN));
    assert.ok(!r.text.includes(CHANNEL_KEY_PREFIX));
  }
});
