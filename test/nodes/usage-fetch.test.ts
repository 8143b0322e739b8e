import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { nodeModule } from '../support/paths';
import { freePort, sleep } from '../support/ports';
import { collect, logged, waitStatus } from '../support/quota-guard';
import { FLAVOURS, TOKEN } from '../support/oneapi-fixtures';
import { startOneApiSimulator, demoChannels, type OneApiSimulator, type SimFlavour } from '../../simulators/oneapi';
import { defaultLedger } from '../../engine/ledger/usage-ledger';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { dayKey } from '../../engine/time/zoned';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const mods = [nodeModule('oneapi-server'), nodeModule('usage-fetch')];

const sims = new Map<SimFlavour, OneApiSimulator>();
before(async () => {
  for (const flavour of FLAVOURS) sims.set(flavour, await startOneApiSimulator({ flavour, accessToken: TOKEN, userId: 1, channels: demoChannels() }));
});
after(async () => {
  for (const s of sims.values()) await s.close();
});
afterEach(async () => {
  await helper.unload();
  for (const s of sims.values()) s.reset();
});

function flow(url: string, uf: Record<string, unknown> = {}, srv: Record<string, unknown> = {}) {
  return [
    { id: 'tab', type: 'tab', label: 'usage' },
    { id: 'srv', type: 'oneapi-server', baseUrl: url, flavour: 'detect', timeout: 2000, dryRun: false, ...srv },
    { id: 'uf', type: 'usage-fetch', z: 'tab', server: 'srv', source: 'auto', window: 'today', timezone: 'UTC', interval: 0, wires: [['out']], ...uf },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'c1', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
}

const creds = { srv: { accessToken: TOKEN, userId: '1' } };

for (const flavour of FLAVOURS) {
  test(`${flavour}: today's usage per model and the channel list, with no token anywhere`, async () => {
    const sim = sims.get(flavour)!;
    sim.addUsage({ model: 'glm-4-7-251222', promptTokens: 700, completionTokens: 300, requests: 2 });
    sim.addUsage({ model: 'GLM-4-7-251222', promptTokens: 70, completionTokens: 30 });
    sim.addUsage({ model: 'kimi-k2-thinking-251104', promptTokens: 5, completionTokens: 5, time: Date.now() - 3 * 86400_000 });
    await helper.load(mods, flow(sim.url), creds);
    const out = collect(helper, 'out');
    helper.getNode('uf').receive({ payload: 'go', topic: 'tick' });
    const [msg] = await out.wait();
    const today = dayKey(Date.now(), 'UTC');
    assert.equal(msg.topic, 'tick', 'the input message is passed on');
    assert.equal(msg.source, flavour === 'one-api' ? 'one-api-logs' : 'new-api-data', 'auto reads the usage of all users');
    const glm = msg.payload.filter((r: any) => r.model.toLowerCase() === 'glm-4-7-251222');
    assert.equal(glm.reduce((s: number, r: any) => s + r.totalTokens, 0), 1100);
    assert.ok(glm.every((r: any) => r.day === today));
    assert.equal(glm.reduce((s: number, r: any) => s + r.requests, 0), 3);
    assert.ok(!msg.payload.some((r: any) => r.model.startsWith('kimi')), 'usage three days ago is outside "today"');
    assert.equal(msg.skipped, 0);
    assert.equal(msg.channels.length, 6);
    assert.deepEqual(msg.channels.find((c: any) => c.id === 5), {
      id: 5,
      name: 'volc-kimi-k2',
      models: ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview'],
      priority: 3,
      weight: 0,
      status: 1,
    });
    assert.deepEqual([msg.window.type, msg.window.timezone, msg.window.firstDay], ['today', 'UTC', today]);
    assert.ok(!JSON.stringify(msg).includes(TOKEN));
    assert.ok(!JSON.stringify(msg).includes('demo-key'), 'no channel key');
    await waitStatus(helper, 'uf', 'green');
  });
}

for (const [flavour, source] of [
  ['one-api', 'one-api-dashboard'],
  ['one-api', 'one-api-logs'],
  ['new-api-2025', 'new-api-data'],
  ['new-api-2026', 'new-api-data'],
  ['new-api-2026', 'one-api-logs'],
] as Array<[SimFlavour, string]>) {
  test(`${flavour} ${source}: malformed usage rows are counted in msg.skipped and on the status, never read as zeros`, async () => {
    const sim = sims.get(flavour)!;
    const nowSec = Math.floor(Date.now() / 1000);
    const hour = nowSec - (nowSec % 3600);
    sim.addUsage({ model: 'glm-4-7-251222', promptTokens: 70, completionTokens: 30 });
    // each is broken in a way that a lenient reader would turn into a zero or an empty-named row
    const junk =
      source === 'one-api-dashboard'
        ? [null, 'x', { Day: dayKey(Date.now(), 'UTC'), ModelName: 'kimi-k2-thinking-251104', RequestCount: 1, Quota: 'lots', PromptTokens: 1, CompletionTokens: 1 }, { Day: dayKey(Date.now(), 'UTC'), RequestCount: 1 }]
        : source === 'new-api-data'
          ? [null, 'x', { model_name: 'kimi-k2-thinking-251104', created_at: hour, token_used: 'many', count: 1, quota: 1 }, { created_at: hour, token_used: 5, count: 1, quota: 1 }]
          : [null, 'x', { id: 9001, type: 2, model_name: 'kimi-k2-thinking-251104', created_at: nowSec, prompt_tokens: 'many', completion_tokens: 1, quota: 1 }, { id: 9002, type: 2, created_at: nowSec, prompt_tokens: 1 }];
    sim.setMode({ junkRows: junk });
    await helper.load(mods, flow(sim.url, { source }), creds);
    const out = collect(helper, 'out');
    helper.getNode('uf').receive({});
    const [msg] = await out.wait();
    assert.equal(msg.source, source);
    assert.equal(msg.skipped, 4, 'every malformed row is counted');
    assert.deepEqual(
      msg.payload.map((r: any) => [r.model, r.totalTokens]),
      [['glm-4-7-251222', 100]],
      'no row was made of the malformed ones',
    );
    const st = await waitStatus(helper, 'uf', 'yellow');
    assert.match(st.text ?? '', /4 skipped/);
    assert.match(logged(helper), /4 malformed usage rows skipped/);
  });
}

test('one-api auto: the usage of every user, not only the token owner\'s dashboard', async () => {
  const sim = await startOneApiSimulator({
    flavour: 'one-api',
    accessToken: TOKEN,
    userId: 1,
    channels: demoChannels(),
    users: [{ token: 'other-user-token-0000000000000000', id: 2, role: 1, username: 'alice' }],
  });
  try {
    sim.addUsage({ model: 'glm-4-7-251222', promptTokens: 70, completionTokens: 30 }); // the admin
    sim.addUsage({ model: 'glm-4-7-251222', promptTokens: 700, completionTokens: 300, userId: 2 }); // another user
    await helper.load(mods, flow(sim.url), creds);
    const out = collect(helper, 'out');
    helper.getNode('uf').receive({});
    const [msg] = await out.wait();
    assert.deepEqual(msg.payload.map((r: any) => [r.model, r.totalTokens, r.requests]), [['glm-4-7-251222', 1100, 2]]);
    assert.equal(msg.source, 'one-api-logs');
  } finally {
    await helper.unload();
    await sim.close();
  }
});

test('one-api log stats source covers all users; last N days window', async () => {
  const sim = sims.get('one-api')!;
  sim.addUsage({ model: 'deepseek-v3-2-251201', promptTokens: 100, completionTokens: 50, quota: 300, requests: 3 });
  sim.addUsage({ model: 'deepseek-v3-2-251201', promptTokens: 10, completionTokens: 5, time: Date.now() - 2 * 86400_000 });
  await helper.load(mods, flow(sim.url, { source: 'one-api-logs', window: 'days', days: 3 }), creds);
  const out = collect(helper, 'out');
  helper.getNode('uf').receive({});
  const [msg] = await out.wait();
  assert.equal(msg.source, 'one-api-logs');
  assert.equal(msg.window.days, 3);
  assert.deepEqual(
    msg.payload.map((r: any) => [r.model, r.requests, r.promptTokens, r.completionTokens, r.quota]),
    [
      ['deepseek-v3-2-251201', 1, 10, 5, 15],
      ['deepseek-v3-2-251201', 3, 100, 50, 300],
    ],
  );
  assert.equal(msg.payload[1].usd, 300 / 500000);
});

test('local ledger source works without a server', async () => {
  localPriorities.reset();
  localPriorities.register('nvidia-1', 'deepseek-ai/deepseek-r1', 5);
  await defaultLedger.record({ model: 'deepseek-ai/deepseek-r1', promptTokens: 40, completionTokens: 2, usd: 0.002 });
  await helper.load(mods, flow('', { source: 'local', server: '' }).filter((n) => n.id !== 'srv'), {});
  const out = collect(helper, 'out');
  helper.getNode('uf').receive({});
  const [msg] = await out.wait();
  assert.equal(msg.source, 'local');
  assert.equal(msg.payload[0].totalTokens, 42);
  assert.equal(msg.payload[0].usd, 0.002);
  assert.equal(msg.channels[0].id, 'nvidia-1/deepseek-ai/deepseek-r1');
  await defaultLedger.clear(0, Date.now() + 3600_000);
  localPriorities.reset();
});

test('interval: fetches on its own and sends new messages', async () => {
  const sim = sims.get('new-api-2026')!;
  sim.addUsage({ model: 'glm-4-7-251222', promptTokens: 1, completionTokens: 1 });
  await helper.load(mods, flow(sim.url, { interval: 0.2 }), creds);
  const out = collect(helper, 'out');
  const msgs = await out.wait(2, 3000);
  assert.equal(msgs[0].topic, 'usage');
  assert.equal(msgs[0].payload[0].totalTokens, 2);
});

test('unreachable server (closed port): clear error to Catch, the next message works once it is up', async () => {
  const port = await freePort();
  await helper.load(mods, flow(`http://127.0.0.1:${port}`), creds);
  const caught = collect(helper, 'caught');
  helper.getNode('uf').receive({ payload: 1 });
  const [err] = await caught.wait();
  assert.equal(err.error.code, 'UNREACHABLE');
  assert.match(err.error.message, /127\.0\.0\.1/);
  await waitStatus(helper, 'uf', 'red');
  assert.ok(!JSON.stringify(err).includes(TOKEN));
  assert.ok(!logged(helper).includes(TOKEN));
  // The server comes up on that port: the same node answers the next message.
  const late = await startOneApiSimulator({ flavour: 'new-api-2026', accessToken: TOKEN, port, channels: demoChannels() });
  try {
    const out = collect(helper, 'out');
    helper.getNode('uf').receive({ payload: 2 });
    const [msg] = await out.wait();
    assert.equal(msg.channels.length, 6);
  } finally {
    await helper.unload();
    await late.close();
  }
});

test('slow server: timeout error, then the next message works', async () => {
  const sim = sims.get('new-api-2025')!;
  await helper.load(mods, flow(sim.url, {}, { timeout: 300 }), creds);
  const out = collect(helper, 'out');
  const caught = collect(helper, 'caught');
  sim.setMode({ delayMs: 1000 });
  helper.getNode('uf').receive({ payload: 1 });
  const [err] = await caught.wait(1, 4000);
  assert.match(err.error.message, /no answer within 300 ms/);
  assert.equal(err.error.code, 'TIMEOUT');
  sim.setMode({ delayMs: 0 });
  await sleep(800); // let the delayed answers drain
  helper.getNode('uf').receive({ payload: 2 });
  const [ok] = await out.wait(1, 4000);
  assert.equal(ok.payload.length, 0);
  assert.equal(ok.channels.length, 6);
});

for (const flavour of FLAVOURS) {
  test(`${flavour}: wrong token gives a clear UNAUTHORIZED error without the token`, async () => {
    const sim = sims.get(flavour)!;
    const wrong = `${TOKEN}WRONG`;
    await helper.load(mods, flow(sim.url), { srv: { accessToken: wrong, userId: '1' } });
    const caught = collect(helper, 'caught');
    helper.getNode('uf').receive({ payload: 1 });
    const [err] = await caught.wait();
    assert.equal(err.error.code, 'UNAUTHORIZED', err.error.message);
    const dump = JSON.stringify(err) + logged(helper);
    assert.ok(!dump.includes(wrong));
  });
}

test('bad configuration: invalid timezone or missing server -> red status, error for every input', async () => {
  await helper.load(mods, flow('http://127.0.0.1:1', { timezone: 'Mars/Olympus' }), creds);
  await waitStatus(helper, 'uf', 'red');
  const caught = collect(helper, 'caught');
  helper.getNode('uf').receive({ payload: 1 });
  helper.getNode('uf').receive({ payload: 2 });
  const errs = await caught.wait(2);
  assert.match(errs[0].error.message, /unknown timezone "Mars\/Olympus"/);
  await helper.unload();
  await helper.load(mods, flow('http://127.0.0.1:1', { server: '' }), creds);
  const caught2 = collect(helper, 'caught');
  helper.getNode('uf').receive({ payload: 1 });
  const [e2] = await caught2.wait();
  assert.match(e2.error.message, /no One API server/);
});
