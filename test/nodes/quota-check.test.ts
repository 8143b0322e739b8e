import { test, afterEach, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { nodeModule } from '../support/paths';
import { collect, waitStatus } from '../support/quota-guard';
import { sleep } from '../support/ports';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { dayKey } from '../../engine/time/zoned';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const mods = [nodeModule('quota-check')];

// The node remembers alert states per node id across redeploys: every test gets its own id.
let QC = 'qc0';
let seq = 0;
beforeEach(() => {
  QC = `qc${++seq}`;
});
afterEach(async () => {
  await helper.unload();
});

const ALLOWANCES = [
  { model: 'DeepSeek-V3-2-251201', limit: '1.9M', unit: 'tokens', window: 'day', baselinePriority: 7 },
  { model: 'Doubao-Seed-Code-Preview-251028', limit: 4_900_000, unit: 'tokens', window: 'day', baselinePriority: 4 },
  { model: 'GLM-4-7-251222', limit: '2.4M', unit: 'tokens', window: 'day', baselinePriority: 5 },
  { model: 'Kimi-K2-Thinking-251104', limit: '1.9M', unit: 'tokens', window: 'day', baselinePriority: 3 },
];

const CHANNELS = [
  { id: 1, name: 'volc-deepseek-v3-2', models: ['deepseek-v3-2-251201'], priority: 7, weight: 0, status: 1 },
  { id: 3, name: 'volc-glm-4-7', models: ['glm-4-7-251222'], priority: 5, weight: 0, status: 1 },
  { id: 4, name: 'volc-doubao-seed-code', models: ['doubao-seed-code-preview-251028'], priority: 4, weight: 0, status: 1 },
  { id: 5, name: 'volc-kimi-k2', models: ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview'], priority: 3, weight: 0, status: 1 },
];

function flow(qc: Record<string, unknown> = {}) {
  return [
    { id: 'tab', type: 'tab', label: 'quota' },
    { id: QC, type: 'quota-check', z: 'tab', allowances: ALLOWANCES, channelMap: '', mode: 'gateway', restore: false, wires: [['changes'], ['report'], ['alerts']], ...qc },
    { id: 'changes', type: 'helper', z: 'tab' },
    { id: 'report', type: 'helper', z: 'tab' },
    { id: 'alerts', type: 'helper', z: 'tab' },
    { id: 'c1', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
}

const today = () => dayKey(Date.now(), 'UTC');
const row = (model: string, totalTokens: number) => ({ day: today(), model, requests: 1, promptTokens: 0, completionTokens: 0, totalTokens, quota: 0, usd: 0 });
const window = () => ({ type: 'today', days: 1, timezone: 'UTC', firstDay: today(), lastDay: today() });

function wire() {
  return { changes: collect(helper, 'changes'), report: collect(helper, 'report'), alerts: collect(helper, 'alerts'), caught: collect(helper, 'caught') };
}

test('usage past an allowance demotes exactly that channel, once; report and alert', async () => {
  await helper.load(mods, flow());
  const w = wire();
  const rows = [row('deepseek-v3-2-251201', 2_000_000), row('glm-4-7-251222', 100_000)];
  helper.getNode(QC).receive({ payload: rows, channels: CHANNELS, window: window() });
  const [rep] = await w.report.wait();
  assert.equal(w.changes.msgs.length, 1);
  assert.deepEqual(w.changes.msgs[0].payload, {
    id: 1,
    name: 'volc-deepseek-v3-2',
    priority: 0,
    old: 7,
    reason: 'exhausted',
    model: 'DeepSeek-V3-2-251201',
    causes: ['DeepSeek-V3-2-251201'],
    multiModel: false,
    models: ['deepseek-v3-2-251201'],
  });
  assert.equal(rep.payload.length, 4);
  const ds = rep.payload.find((r: any) => r.model === 'DeepSeek-V3-2-251201');
  assert.deepEqual([ds.used, ds.limit, ds.state, ds.percent, ds.priority], [2_000_000, 1_900_000, 'exhausted', 105.3, 7]);
  assert.deepEqual(w.alerts.msgs.map((m) => [m.topic, m.payload.kind]), [['quota/DeepSeek-V3-2-251201', 'exhausted']]);
  assert.equal((await waitStatus(helper, QC, 'red')).text, 'exhausted: DeepSeek-V3-2-251201 105.3%');

  // next poll: the gateway now reports priority 0 -> no write, no repeated alert
  const after = CHANNELS.map((c) => (c.id === 1 ? { ...c, priority: 0 } : c));
  helper.getNode(QC).receive({ payload: rows, channels: after, window: window() });
  await w.report.wait(2);
  await sleep(20);
  assert.equal(w.changes.msgs.length, 1);
  assert.equal(w.alerts.msgs.length, 1);
});

test('alert state survives a redeploy (no second "exhausted" alert for the same state)', async () => {
  const f = flow();
  await helper.load(mods, f);
  let w = { alerts: collect(helper, 'alerts'), report: collect(helper, 'report') };
  const rows = [row('glm-4-7-251222', 2_500_000)];
  helper.getNode(QC).receive({ payload: rows, channels: CHANNELS, window: window() });
  await w.report.wait();
  assert.equal(w.alerts.msgs.length, 1);
  await helper.unload();
  await helper.load(mods, f);
  w = { alerts: collect(helper, 'alerts'), report: collect(helper, 'report') };
  const changes = collect(helper, 'changes');
  helper.getNode(QC).receive({ payload: rows, channels: CHANNELS, window: window() });
  await w.report.wait();
  await sleep(20);
  assert.equal(w.alerts.msgs.length, 0, 'state remembered across the redeploy');
  assert.equal(changes.msgs.length, 1, 'the channel is still at 5 on the gateway, so it is demoted');
  // back under the limit (a new day): one "recovered" alert
  helper.getNode(QC).receive({ payload: [], channels: CHANNELS, window: window() });
  await w.alerts.wait();
  assert.equal(w.alerts.msgs[0].payload.kind, 'recovered');
});

test('a channel carrying two models is flagged; warn alert below the limit', async () => {
  await helper.load(mods, flow());
  const w = wire();
  helper.getNode(QC).receive({ payload: [row('KIMI-K2-THINKING-251104', 1_900_000), row('glm-4-7-251222', 2_000_000)], channels: CHANNELS, window: window() });
  const [rep] = await w.report.wait();
  assert.equal(w.changes.msgs.length, 1);
  const ch = w.changes.msgs[0].payload;
  assert.deepEqual([ch.id, ch.multiModel, ch.models], [5, true, ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview']]);
  const kimi = rep.payload.find((r: any) => r.model === 'Kimi-K2-Thinking-251104');
  assert.equal(kimi.multiModel, true);
  assert.deepEqual(
    w.alerts.msgs.map((m) => [m.payload.model, m.payload.kind]).sort(),
    [
      ['GLM-4-7-251222', 'warn'],
      ['Kimi-K2-Thinking-251104', 'exhausted'],
    ],
  );
});

test('malformed rows are skipped and counted; a non-list payload errors; the next message works', async () => {
  await helper.load(mods, flow());
  const w = wire();
  helper.getNode(QC).receive({ payload: { rows: 1 }, channels: CHANNELS });
  const [err] = await w.caught.wait();
  assert.match(err.error.message, /msg\.payload must be the usage rows/);
  helper.getNode(QC).receive({ payload: [null, 'x', { day: 'soon', model: 'glm' }, { day: today(), model: 'glm-4-7-251222', totalTokens: 'many' }, row('glm-4-7-251222', 5)], channels: CHANNELS, window: window() });
  const [rep] = await w.report.wait();
  assert.equal(rep.skipped, 4);
  assert.equal(rep.payload.find((r: any) => r.model === 'GLM-4-7-251222').used, 5);
});

test('missing allowances: red status, clear error for every input', async () => {
  await helper.load(mods, flow({ allowances: [] }));
  await waitStatus(helper, QC, 'red');
  const w = wire();
  helper.getNode(QC).receive({ payload: [] });
  const [err] = await w.caught.wait();
  assert.match(err.error.message, /no allowances configured/);
  await helper.unload();
  await helper.load(mods, flow({ allowances: [{ model: 'x', limit: 'lots' }] }));
  const w2 = wire();
  helper.getNode(QC).receive({ payload: [] });
  const [err2] = await w2.caught.wait();
  assert.match(err2.error.message, /allowance 1 \(x\): limit must be a number/);
});

test('local mode: uses the local priority table when msg.channels is absent', async () => {
  localPriorities.reset();
  localPriorities.register('nvidia-1', 'deepseek-v3-2-251201', 6);
  await helper.load(mods, flow({ mode: 'local' }));
  const w = wire();
  helper.getNode(QC).receive({ payload: [row('deepseek-v3-2-251201', 1_900_000)], window: window() });
  const [c] = await w.changes.wait();
  assert.deepEqual([c.payload.id, c.payload.old, c.payload.priority], ['nvidia-1/deepseek-v3-2-251201', 6, 0]);
  localPriorities.reset();
});

test('restore option: brings a channel it demoted back to its baseline when usage is under the limit', async () => {
  await helper.load(mods, flow({ restore: true }));
  const w = wire();
  helper.getNode(QC).receive({ payload: [row('glm-4-7-251222', 3_000_000)], channels: CHANNELS, window: window() });
  await w.changes.wait();
  const zero = CHANNELS.map((c) => (c.id === 3 ? { ...c, priority: 0 } : c));
  helper.getNode(QC).receive({ payload: [row('glm-4-7-251222', 10)], channels: zero, window: window() });
  const msgs = await w.changes.wait(2);
  assert.deepEqual([msgs[1].payload.id, msgs[1].payload.priority, msgs[1].payload.reason], [3, 5, 'recovered']);
});
