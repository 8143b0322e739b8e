import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { nodeModule } from '../support/paths';
import { sleep, waitFor } from '../support/ports';
import { setProviderSnapshotSource } from '../../engine/dashboard/providers';
import { channelTable, providerTable, trendChart, usageChart } from '../../engine/dashboard';
import type { ProviderSnapshot } from '../../engine/routing/types';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');

interface TestNode {
  on(event: 'input', cb: (msg: Record<string, any>) => void): void;
  receive(msg: Record<string, unknown>): void;
}

const feedModule = nodeModule('llm-dashboard-feed');
const OUT = ['usage', 'trend', 'channels', 'live', 'alerts', 'providers', 'gauges'];

let seq = 0;
/** A flow with the feed (a fresh id per test unless given) and one helper per output, plus a Catch. */
function flow(props: Record<string, unknown> = {}, id = `feed${++seq}`): Array<Record<string, unknown>> {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id, z: 'tab', type: 'llm-dashboard-feed', liveInterval: 0, replayOnStart: false, wires: OUT.map((o) => [o]), ...props },
    ...OUT.map((o) => ({ id: o, z: 'tab', type: 'helper' })),
    { id: 'c', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ];
}

/** Records every message per output from now on. */
function record(): Record<string, Array<Record<string, any>>> {
  const got: Record<string, Array<Record<string, any>>> = {};
  for (const o of [...OUT, 'caught']) {
    got[o] = [];
    (helper.getNode(o) as TestNode).on('input', (m) => got[o].push(m));
  }
  return got;
}

const CHANNELS = [
  { id: 1, name: 'deepseek', models: ['DeepSeek-V3-2-251201'], priority: 7, weight: 1, status: 1 },
  { id: 3, name: 'glm', models: ['GLM-4-7-251222'], priority: 5, weight: 1, status: 1 },
];
const ROWS = [
  { day: '2026-04-01', model: 'DeepSeek-V3-2-251201', requests: 10, promptTokens: 600, completionTokens: 400, totalTokens: 1000, quota: 2000, usd: 0.01 },
  { day: '2026-04-02', model: 'DeepSeek-V3-2-251201', requests: 12, promptTokens: 700, completionTokens: 500, totalTokens: 1200, quota: 2400, usd: 0.012 },
  { day: '2026-04-02', model: 'GLM-4-7-251222', requests: 3, promptTokens: 100, completionTokens: 50, totalTokens: 150, quota: 300, usd: 0.001 },
];
const REPORTS = [
  { model: 'GLM-4-7-251222', used: 2_000_000, limit: 2_400_000, unit: 'tokens', percent: 83.3, state: 'warn', channels: [3], priority: 5 },
  { model: 'DeepSeek-V3-2-251201', used: 1_900_000, limit: 1_900_000, unit: 'tokens', percent: 100, state: 'exhausted', channels: [1], priority: 0 },
];

before(() => {
  helper.init(require.resolve('node-red'));
});

afterEach(async () => {
  setProviderSnapshotSource(null);
  await helper.unload();
});

after(async () => {
  await helper.stopServer().catch(() => undefined);
});

test('usage rows + channels: trend chart on output 2 and channel table on output 3, nothing else', async () => {
  await helper.load(feedModule, flow());
  const got = record();
  const feed = helper.getNode(`feed${seq}`) as TestNode;
  feed.receive({ payload: ROWS, channels: CHANNELS });
  await waitFor(() => got.trend.length === 1 && got.channels.length === 1, 2000, 10, 'trend + channels');
  await sleep(50);
  assert.deepEqual(got.trend[0].payload, trendChart(ROWS).payload);
  assert.equal(got.trend[0].payload[0].labels.length, 7);
  assert.deepEqual(got.trend[0].ui_control, { options: { scales: { xAxes: [{ stacked: true }], yAxes: [{ stacked: true }] } } });
  assert.deepEqual(
    got.channels[0].payload.map((r: any) => [r.id, r.name, r.priority, r.status]),
    [
      [1, 'deepseek', 7, 'enabled'],
      [3, 'glm', 5, 'enabled'],
    ],
  );
  for (const o of ['usage', 'live', 'alerts', 'providers', 'gauges', 'caught']) assert.equal(got[o].length, 0, o);
});

test('reports (array or one): usage chart, gauges one per model, channel table with health', async () => {
  await helper.load(feedModule, flow());
  const got = record();
  const feed = helper.getNode(`feed${seq}`) as TestNode;
  feed.receive({ payload: ROWS, channels: CHANNELS });
  feed.receive({ payload: REPORTS });
  await waitFor(() => got.usage.length === 1 && got.gauges.length === 2 && got.channels.length === 2, 2000, 10, 'usage');
  const normal = REPORTS.map((r) => ({ ...r, state: r.state as 'warn' | 'exhausted' }));
  assert.deepEqual(got.usage[0].payload, usageChart(normal).payload);
  assert.deepEqual(got.usage[0].payload[0].labels, ['DeepSeek-V3-2-251201', 'GLM-4-7-251222']);
  assert.deepEqual(
    got.gauges.map((m) => [m.topic, m.payload]),
    [
      ['DeepSeek-V3-2-251201', 100],
      ['GLM-4-7-251222', 83.3],
    ],
  );
  assert.deepEqual(got.channels[1].payload, channelTable(CHANNELS, normal));
  assert.deepEqual(
    got.channels[1].payload.map((r: any) => r.health),
    ['exhausted', 'warn'],
  );
  // a single report updates one model and keeps the other
  feed.receive({ payload: { ...REPORTS[0], used: 100, percent: 0, state: 'ok' } });
  await waitFor(() => got.usage.length === 2, 2000, 10, 'second usage');
  assert.deepEqual(got.usage[1].payload[0].data[0], [1_900_000, 100]);
  assert.equal(got.caught.length, 0);
});

test('alerts: a bounded table, newest first, on output 5', async () => {
  await helper.load(feedModule, flow({ maxAlerts: 2 }));
  const got = record();
  const feed = helper.getNode(`feed${seq}`) as TestNode;
  for (let i = 0; i < 3; i++) {
    feed.receive({ payload: { model: `m${i}`, from: 'ok', to: 'warn', state: 'warn', percent: 80 + i, message: `m${i} reached ${80 + i}%`, time: Date.UTC(2026, 0, 1, 0, 0, i) } });
  }
  await waitFor(() => got.alerts.length === 3, 2000, 10, 'alerts');
  const last = got.alerts[2].payload;
  assert.deepEqual(
    last.map((r: any) => [r.model, r.change, r.percent, r.message]),
    [
      ['m2', 'ok → warn', '82.0%', 'm2 reached 82%'],
      ['m1', 'ok → warn', '81.0%', 'm1 reached 81%'],
    ],
  );
  assert.equal(got.usage.length + got.trend.length + got.channels.length, 0);
});

test('unrecognised input reaches a Catch node and the next message still works', async () => {
  await helper.load(feedModule, flow());
  const got = record();
  const feed = helper.getNode(`feed${seq}`) as TestNode;
  feed.receive({ payload: 'not dashboard data' });
  await waitFor(() => got.caught.length === 1, 2000, 10, 'catch');
  assert.match(String(got.caught[0].error.message), /unrecognised input/);
  feed.receive({ payload: REPORTS });
  await waitFor(() => got.usage.length === 1, 2000, 10, 'usage after error');
});

test('live outputs follow the provider registry on their interval; nothing without a registry', async () => {
  let snaps: ProviderSnapshot[] | null = null;
  setProviderSnapshotSource(() => snaps);
  await helper.load(feedModule, flow({ liveInterval: 0.05 }));
  const got = record();
  await sleep(200);
  assert.equal(got.live.length + got.providers.length, 0, 'no registry: nothing sent');
  snaps = [
    { id: 'p1', name: 'nvidia-1', rpmUsed: 7, rpmLimit: 40, inFlight: 1, maxConcurrent: 5, queued: 0, breakers: [{ model: 'kimi', state: 'closed', failures: 0 }], healthy: true, shared: null, successRate: 1, p50LatencyMs: 300 },
    { id: 'p2', name: 'hunyuan', rpmUsed: 2, rpmLimit: null, inFlight: 0, maxConcurrent: 5, queued: 0, breakers: [{ model: 'hy', state: 'open', failures: 5 }], healthy: null, shared: null, successRate: null, p50LatencyMs: null },
  ];
  await waitFor(() => got.live.length >= 4 && got.providers.length >= 1, 2000, 10, 'live points');
  assert.deepEqual(
    got.live.slice(0, 2).map((m) => [m.topic, m.payload]),
    [
      ['hunyuan', 2],
      ['nvidia-1', 7],
    ],
  );
  assert.equal(got.providers.length, 1, 'unchanged table is sent once');
  assert.deepEqual(got.providers[0].payload, providerTable(snaps));
  assert.equal(got.providers[0].payload[0].breakers, 'open: hy');
});

test('a redeploy keeps the data and sends it again; "clear" empties every widget', async () => {
  const id = 'feed-redeploy';
  await helper.load(feedModule, flow({}, id));
  (helper.getNode(id) as TestNode).receive({ payload: REPORTS });
  await sleep(50);
  await helper.unload();
  await helper.load(feedModule, flow({ replayOnStart: true }, id));
  const got = record();
  await waitFor(() => got.usage.length === 1 && got.channels.length === 1 && got.gauges.length === 2, 2000, 10, 'replay');
  assert.deepEqual(got.usage[0].payload[0].labels, ['DeepSeek-V3-2-251201', 'GLM-4-7-251222']);
  (helper.getNode(id) as TestNode).receive({ topic: 'clear' });
  await waitFor(() => got.usage.length === 2, 2000, 10, 'clear');
  for (const o of ['usage', 'trend', 'channels', 'alerts', 'providers']) assert.deepEqual(got[o][got[o].length - 1].payload, [], o);
});
