import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { nodeModule } from '../support/paths';
import { freePort, sleep } from '../support/ports';
import { collect, logged, waitStatus } from '../support/quota-guard';
import { FLAVOURS, TOKEN } from '../support/oneapi-fixtures';
import { startOneApiSimulator, demoChannels, type OneApiSimulator, type SimFlavour } from '../../simulators/oneapi';
import { localPriorities } from '../../engine/ledger/local-priorities';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const mods = [nodeModule('oneapi-server'), nodeModule('priority-set')];

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

function flow(url: string, ps: Record<string, unknown> = {}, srv: Record<string, unknown> = {}) {
  return [
    { id: 'tab', type: 'tab', label: 'prio' },
    { id: 'srv', type: 'oneapi-server', baseUrl: url, flavour: 'detect', timeout: 1500, dryRun: false, ...srv },
    { id: 'ps', type: 'priority-set', z: 'tab', target: 'gateway', server: 'srv', concurrency: 4, verify: false, dryRun: false, wires: [['ok'], ['failed']], ...ps },
    { id: 'ok', type: 'helper', z: 'tab' },
    { id: 'failed', type: 'helper', z: 'tab' },
    { id: 'c1', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
}
const creds = { srv: { accessToken: TOKEN, userId: '1' } };
const wire = () => ({ ok: collect(helper, 'ok'), failed: collect(helper, 'failed'), caught: collect(helper, 'caught') });
const prio = (sim: OneApiSimulator, id: number) => sim.channels().find((c) => c.id === id)?.priority;

for (const flavour of FLAVOURS) {
  test(`${flavour}: sets priorities by id, channel name and model; verify; enable/disable; no key or token forwarded`, async () => {
    const sim = sims.get(flavour)!;
    await helper.load(mods, flow(sim.url, { verify: true }), creds);
    const w = wire();
    helper.getNode('ps').receive({
      payload: [
        { id: 1, priority: 0 },
        { name: 'volc-glm-4-7', priority: 9 },
        { name: 'Kimi-K2-Thinking-251104', priority: 2 },
        { id: 6, enabled: false },
      ],
    });
    const msgs = await w.ok.wait(4);
    assert.equal(prio(sim, 1), 0);
    assert.equal(prio(sim, 3), 9);
    assert.equal(prio(sim, 5), 2);
    assert.equal(sim.channels().find((c) => c.id === 6)?.status, 2);
    const byId = new Map(msgs.map((m) => [`${m.payload.id}.${m.payload.field}`, m.payload]));
    assert.deepEqual(byId.get('3.priority'), { id: 3, name: 'volc-glm-4-7', field: 'priority', old: 5, new: 9, dryRun: false, verified: true });
    assert.deepEqual(byId.get('6.status'), { id: 6, name: 'volc-doubao-seed-1-6', field: 'status', old: 1, new: 2, dryRun: false, verified: true });
    assert.equal(byId.get('1.priority').new, 0);
    assert.equal(byId.get('1.priority').verified, true);
    const dump = JSON.stringify(msgs) + logged(helper);
    assert.ok(!dump.includes('demo-key'), 'the channel key echoed by some servers is never forwarded');
    assert.ok(!dump.includes(TOKEN));
    assert.equal(w.failed.msgs.length, 0);
    assert.equal(w.caught.msgs.length, 0);
    assert.match((await waitStatus(helper, 'ps', 'green')).text ?? '', /^4 changed/);
  });
}

test('old values come from msg.channels; a batch runs with bounded concurrency', async () => {
  const sim = sims.get('new-api-2026')!;
  await helper.load(mods, flow(sim.url, { concurrency: 2 }), creds);
  const w = wire();
  sim.setMode({ delayMs: 60 });
  const channels = sim.channels().map((c) => ({ id: c.id, name: c.name, models: c.models, priority: c.priority, weight: c.weight, status: c.status }));
  const t0 = Date.now();
  helper.getNode('ps').receive({ payload: [1, 2, 3, 4].map((id) => ({ id, priority: 1 })), channels });
  const msgs = await w.ok.wait(4);
  const took = Date.now() - t0;
  sim.setMode({ delayMs: 0 });
  assert.deepEqual(msgs.map((m) => [m.payload.id, m.payload.old, m.payload.new]), [
    [1, 7, 1],
    [2, 6, 1],
    [3, 5, 1],
    [4, 4, 1],
  ]);
  // 4 writes of >= 60 ms, two at a time: at least two rounds, fewer than four.
  assert.ok(took >= 120, `took ${took} ms`);
  assert.equal(sim.writes().length, 4);
});

test('dry run (node or server): reports every change, writes nothing', async () => {
  const sim = sims.get('one-api')!;
  await helper.load(mods, flow(sim.url, { dryRun: true }), creds);
  let w = wire();
  helper.getNode('ps').receive({ payload: { id: 1, priority: 0 } });
  const [a] = await w.ok.wait();
  assert.equal(a.payload.dryRun, true);
  await waitStatus(helper, 'ps', 'yellow');
  await helper.unload();
  await helper.load(mods, flow(sim.url, {}, { dryRun: true }), creds);
  w = wire();
  helper.getNode('ps').receive({ payload: [{ id: 1, priority: 0 }, { id: 2, enabled: false }] });
  const both = await w.ok.wait(2);
  assert.ok(both.every((m) => m.payload.dryRun === true));
  assert.equal(sim.writes().length, 0);
  assert.equal(prio(sim, 1), 7);
});

test('an unknown name goes to output 2 and to Catch; the other changes are applied; the next message works', async () => {
  const sim = sims.get('new-api-2025')!;
  await helper.load(mods, flow(sim.url), creds);
  const w = wire();
  helper.getNode('ps').receive({ payload: [{ name: 'no-such-channel', priority: 1 }, { id: 2, priority: 3 }] });
  const [f] = await w.failed.wait();
  assert.deepEqual([f.payload.name, f.payload.error.code], ['no-such-channel', 'NOT_FOUND']);
  const [err] = await w.caught.wait();
  assert.match(err.error.message, /1 of 2 changes failed; first: no-such-channel/);
  assert.equal(prio(sim, 2), 3);
  await waitStatus(helper, 'ps', 'red');
  helper.getNode('ps').receive({ payload: { id: 2, priority: 6 } });
  await w.ok.wait(2);
  assert.equal(prio(sim, 2), 6);
});

test('invalid payloads end in a clear error before anything is written', async () => {
  const sim = sims.get('new-api-2026')!;
  await helper.load(mods, flow(sim.url), creds);
  const w = wire();
  for (const payload of ['set 1 to 0', { priority: 1 }, [{ id: 1, priority: 0 }, { id: 2, priority: 'high' }], { id: 1 }]) {
    helper.getNode('ps').receive({ payload });
  }
  const errs = await w.caught.wait(4);
  assert.match(errs[0].error.message, /msg\.payload must be an object/);
  assert.match(errs[1].error.message, /"id" or "name"/);
  assert.match(errs[2].error.message, /item 2: priority must be a whole number/);
  assert.match(errs[3].error.message, /nothing to change/);
  await sleep(50);
  assert.equal(sim.writes().length, 0);
  assert.equal(w.ok.msgs.length, 0);
});

test('status 0 or 3 is refused for that item (output 2 and Catch); status 1 / 2 still apply', async () => {
  const sim = sims.get('new-api-2026')!;
  await helper.load(mods, flow(sim.url), creds);
  const w = wire();
  helper.getNode('ps').receive({ payload: [{ id: 6, status: 0 }, { id: 1, status: 3 }, { id: 2, status: 2 }] });
  const [ok] = await w.ok.wait(1);
  assert.deepEqual([ok.payload.id, ok.payload.field, ok.payload.new], [2, 'status', 2]);
  const failed = await w.failed.wait(2);
  assert.deepEqual(failed.map((m) => [m.payload.id, m.payload.value, m.payload.error.code]), [
    [6, 0, 'BAD_REQUEST'],
    [1, 3, 'BAD_REQUEST'],
  ]);
  const [err] = await w.caught.wait();
  assert.match(err.error.message, /status 0 cannot be set/);
  assert.equal(sim.channels().find((c) => c.id === 6)?.status, 1, 'status 0 did not disable the channel');
  assert.equal(sim.channels().find((c) => c.id === 1)?.status, 1, 'status 3 did not disable the channel');
  assert.equal(sim.channels().find((c) => c.id === 2)?.status, 2);
  assert.deepEqual(sim.writes().map((x) => x.path), ['/api/channel/2/status']);
});

for (const flavour of ['one-api', 'new-api-2025'] as SimFlavour[]) {
  test(`${flavour}: an id the server does not have fails without a write (the server would answer success); ids get their old value`, async () => {
    const sim = sims.get(flavour)!;
    await helper.load(mods, flow(sim.url), creds);
    const w = wire();
    helper.getNode('ps').receive({ payload: [{ id: 999, priority: 0 }, { id: 3, priority: 1 }] });
    const [ok] = await w.ok.wait();
    assert.deepEqual([ok.payload.id, ok.payload.old, ok.payload.new], [3, 5, 1]);
    const [failed] = await w.failed.wait();
    assert.deepEqual([failed.payload.id, failed.payload.error.code], [999, 'NOT_FOUND']);
    await w.caught.wait();
    assert.deepEqual(
      sim.writes().map((x) => x.body),
      [{ id: 3, priority: 1 }],
      'no PUT for id 999',
    );
  });
}

test('unreachable server and wrong token: per-change failure with a code, Catch error, no secret', async () => {
  const port = await freePort();
  await helper.load(mods, flow(`http://127.0.0.1:${port}`, {}, { flavour: 'one-api' }), creds);
  let w = wire();
  helper.getNode('ps').receive({ payload: { id: 1, priority: 0 } });
  const [f] = await w.failed.wait();
  assert.equal(f.payload.error.code, 'UNREACHABLE');
  await w.caught.wait();
  await helper.unload();

  const sim = sims.get('new-api-2026')!;
  const wrong = `${TOKEN}-old`;
  await helper.load(mods, flow(sim.url), { srv: { accessToken: wrong, userId: '1' } });
  w = wire();
  helper.getNode('ps').receive({ payload: { name: 'volc-glm-4-7', priority: 1 } }); // needs the channel list: the whole message fails
  const [err] = await w.caught.wait();
  assert.equal(err.error.code, 'UNAUTHORIZED');
  assert.ok(!(JSON.stringify(err) + logged(helper)).includes(wrong));
});

test('local target: writes the local priority table', async () => {
  localPriorities.reset();
  localPriorities.register('hunyuan', 'hunyuan-turbos-latest', 5);
  await helper.load(mods, flow('', { target: 'local', server: '' }).filter((n) => n.id !== 'srv'));
  const w = wire();
  helper.getNode('ps').receive({ payload: [{ id: 'hunyuan/hunyuan-turbos-latest', priority: 0 }, { name: 'hunyuan/hunyuan-turbos-latest', enabled: false }] });
  const msgs = await w.ok.wait(2);
  assert.deepEqual(msgs.map((m) => [m.payload.field, m.payload.old, m.payload.new]), [
    ['priority', 5, 0],
    ['status', 1, 2],
  ]);
  assert.equal(localPriorities.allows('hunyuan', 'hunyuan-turbos-latest'), false);
  localPriorities.reset();
});
