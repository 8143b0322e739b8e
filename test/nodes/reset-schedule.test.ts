import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeModule } from '../support/paths';
import { collect, waitStatus } from '../support/quota-guard';
import { defaultLedger } from '../../engine/ledger/usage-ledger';
import { FileStateStore } from '../../engine/schedule/schedule';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const mods = [nodeModule('reset-schedule')];

let userDir = '';
before(() => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reset-schedule-'));
  helper.settings({ userDir });
});
after(() => {
  fs.rmSync(userDir, { recursive: true, force: true });
});
afterEach(async () => {
  await helper.unload();
});

function flow(rs: Record<string, unknown> = {}) {
  return [
    { id: 'tab', type: 'tab', label: 'reset' },
    { id: 'rs', type: 'reset-schedule', z: 'tab', cron: '20 2 * * *', timezone: 'Asia/Shanghai', resetLedger: false, closeBreakers: false, catchUp: true, wires: [['out']], ...rs },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'c1', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
}

test('an input runs it by hand: the six default baselines as one priority-set message; status shows the next run', async () => {
  await helper.load(mods, flow({ id: 'rs-manual' }).map((n) => (n.id === 'rs' ? { ...n, id: 'rs-manual' } : n)));
  const s = await waitStatus(helper, 'rs-manual', 'green');
  assert.match(s.text ?? '', /^next: \d{4}-\d{2}-\d{2} 02:20 \(Asia\/Shanghai\)$/);
  const out = collect(helper, 'out');
  helper.getNode('rs-manual').receive({ payload: 'now' });
  const [msg] = await out.wait();
  assert.deepEqual(msg.payload, [
    { name: 'deepseek-v3-2-251201', priority: 7 },
    { name: 'deepseek-v3-1-terminus', priority: 6 },
    { name: 'glm-4-7-251222', priority: 5 },
    { name: 'doubao-seed-code-preview-251028', priority: 4 },
    { name: 'kimi-k2-thinking-251104', priority: 3 },
    { name: 'doubao-seed-1-6-251015', priority: 1 },
  ]);
  assert.equal(msg.reset.kind, 'manual');
  assert.equal(msg.reset.timezone, 'Asia/Shanghai');
});

test('fires on its schedule (every second) with a custom baseline table; ledger reset; breakers tolerated', async () => {
  await defaultLedger.record({ model: 'm', totalTokens: 10 });
  await helper.load(
    mods,
    flow({ id: 'rs-tick', cron: '* * * * * *', timezone: 'UTC', baselines: [{ target: 12, priority: 3 }, { target: 'glm', priority: 0 }], resetLedger: true, closeBreakers: true }).map((n) =>
      n.id === 'rs' ? { ...n, id: 'rs-tick' } : n,
    ),
  );
  const out = collect(helper, 'out');
  const [msg] = await out.wait(1, 3000);
  assert.equal(msg.reset.kind, 'scheduled');
  assert.deepEqual(msg.payload, [
    { id: 12, priority: 3 },
    { name: 'glm', priority: 0 },
  ]);
  assert.equal(typeof msg.reset.ledgerCleared, 'string');
  assert.ok(msg.reset.breakersClosed === null || typeof msg.reset.breakersClosed === 'number');
  const left = await defaultLedger.rows(Date.now() - 86400_000, Date.now() + 86400_000, 'UTC');
  assert.equal(left.length, 0, "today's ledger window was cleared");
});

test('catch-up: a run missed while Node-RED was down fires once at start', async () => {
  const store = new FileStateStore(path.join(userDir, '.llm-router'), 'rs-catchup');
  const twoDaysAgo = Date.now() - 2 * 86400_000;
  store.save({ lastRun: twoDaysAgo, since: twoDaysAgo, cron: '20 2 * * *', timezone: 'Asia/Shanghai' });
  await helper.load(mods, flow({ id: 'rs-catchup', catchUpDelay: 50 }).map((n) => (n.id === 'rs' ? { ...n, id: 'rs-catchup' } : n)));
  const out = collect(helper, 'out');
  const msgs = await out.wait(1, 3000);
  assert.equal(msgs[0].reset.kind, 'catch-up');
  assert.ok(Date.parse(msgs[0].reset.scheduled) > twoDaysAgo);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(out.msgs.length, 1, 'once, however many runs were missed');
  const saved = store.load();
  assert.ok(saved?.lastRun && saved.lastRun > twoDaysAgo);
  // A restart right after: nothing missed any more.
  await helper.unload();
  await helper.load(mods, flow({ id: 'rs-catchup', catchUpDelay: 0 }).map((n) => (n.id === 'rs' ? { ...n, id: 'rs-catchup' } : n)));
  const again = collect(helper, 'out');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(again.msgs.length, 0);
});

test('invalid cron or timezone: red status and a clear error; fixed config works after deploy', async () => {
  await helper.load(mods, flow({ cron: '61 2 * * *' }));
  await waitStatus(helper, 'rs', 'red');
  let caught = collect(helper, 'caught');
  helper.getNode('rs').receive({});
  const [e1] = await caught.wait();
  assert.match(e1.error.message, /invalid cron expression "61 2 \* \* \*"/);
  await helper.unload();

  await helper.load(mods, flow({ timezone: 'Europe/Atlantis' }));
  await waitStatus(helper, 'rs', 'red');
  caught = collect(helper, 'caught');
  helper.getNode('rs').receive({});
  const [e2] = await caught.wait();
  assert.match(e2.error.message, /unknown timezone "Europe\/Atlantis"/);
  await helper.unload();

  await helper.load(mods, flow({ baselines: [{ target: 'x', priority: 'high' }] }));
  caught = collect(helper, 'caught');
  helper.getNode('rs').receive({});
  const [e3] = await caught.wait();
  assert.match(e3.error.message, /priority must be a whole number/);
  await helper.unload();

  await helper.load(mods, flow({ timezone: 'Europe/Berlin' }));
  await waitStatus(helper, 'rs', 'green');
  const out = collect(helper, 'out');
  helper.getNode('rs').receive({});
  const [ok] = await out.wait();
  assert.equal(ok.payload.length, 6);
});
