/**
 * The feed's chart outputs wired straight into real Dashboard 1 ui_chart nodes (no function
 * nodes): the chart accepts them as whole charts / live points and its stored state (what it
 * forwards on its output) is exactly the data the feed sent.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { nodeModule, repoRoot } from '../support/paths';
import { sleep, waitFor } from '../support/ports';
import { setProviderSnapshotSource } from '../../engine/dashboard/providers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');

interface TestNode {
  on(event: 'input', cb: (msg: Record<string, any>) => void): void;
  receive(msg: Record<string, unknown>): void;
  warn: { getCalls(): Array<{ thisValue: unknown; args: any[] }> };
  error: { getCalls(): Array<{ thisValue: unknown; args: any[] }> };
}

function dashboardNode(file: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(repoRoot, 'node_modules', 'node-red-dashboard', 'nodes', file));
}

const feedModule = nodeModule('llm-dashboard-feed');

function chart(id: string, chartType: string, out: string): Record<string, unknown> {
  return { id, z: 'tab', type: 'ui_chart', group: 'g1', order: 1, width: 6, height: 4, chartType, legend: 'true', xformat: 'HH:mm:ss', interpolate: 'linear', nodata: '', ymin: '', ymax: '', removeOlder: 1, removeOlderPoints: '', removeOlderUnit: '3600', cutout: 0, useOneColor: false, colors: [], useOldStyle: false, outputs: 1, wires: [[out]] };
}

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

test('usage, trend and live outputs drive real ui_chart nodes unchanged', async () => {
  await helper.startServer();
  setProviderSnapshotSource(() => [
    { id: 'p1', name: 'nvidia-1', rpmUsed: 7, rpmLimit: 40, inFlight: 0, maxConcurrent: 5, queued: 0, breakers: [], healthy: null, shared: null, successRate: null, p50LatencyMs: null },
    { id: 'p2', name: 'hunyuan', rpmUsed: 3, rpmLimit: null, inFlight: 0, maxConcurrent: 5, queued: 0, breakers: [], healthy: null, shared: null, successRate: null, p50LatencyMs: null },
  ]);
  const flow = [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'base', type: 'ui_base', theme: {}, site: { name: 'Test' } },
    { id: 'uitab', type: 'ui_tab', name: 'LLM', icon: 'dashboard', order: 1 },
    { id: 'g1', type: 'ui_group', name: 'Quota', tab: 'uitab', order: 1, disp: true, width: '12' },
    { id: 'feed', z: 'tab', type: 'llm-dashboard-feed', liveInterval: 0.05, replayOnStart: false, wires: [['fanU', 'usageChart'], ['fanT', 'trendChart'], [], ['liveChart'], [], [], []] },
    chart('usageChart', 'bar', 'usageOut'),
    chart('trendChart', 'bar', 'trendOut'),
    chart('liveChart', 'line', 'liveOut'),
    ...['fanU', 'fanT', 'usageOut', 'trendOut', 'liveOut'].map((id) => ({ id, z: 'tab', type: 'helper' })),
  ];
  await helper.load([dashboardNode('ui_base.js'), dashboardNode('ui_tab.js'), dashboardNode('ui_group.js'), dashboardNode('ui_chart.js'), feedModule], flow);
  const got: Record<string, Array<Record<string, any>>> = {};
  for (const id of ['fanU', 'fanT', 'usageOut', 'trendOut', 'liveOut']) {
    got[id] = [];
    (helper.getNode(id) as TestNode).on('input', (m) => got[id].push(m));
  }
  const feed = helper.getNode('feed') as TestNode;
  feed.receive({
    payload: [
      { model: 'GLM-4-7-251222', used: 2_000_000, limit: 2_400_000, unit: 'tokens', percent: 83.3, state: 'warn', channels: [3], priority: 5 },
      { model: 'DeepSeek-V3-2-251201', used: 1_000_000, limit: 1_900_000, unit: 'tokens', percent: 52.6, state: 'ok', channels: [1], priority: 7 },
    ],
  });
  feed.receive({
    payload: [
      { day: '2026-04-01', model: 'a', requests: 1, promptTokens: 1, completionTokens: 1, totalTokens: 2, quota: 0, usd: 0 },
      { day: '2026-04-03', model: 'b', requests: 1, promptTokens: 2, completionTokens: 3, totalTokens: 5, quota: 0, usd: 0 },
    ],
    channels: [],
  });
  await waitFor(() => got.usageOut.length === 1 && got.trendOut.length === 1 && got.liveOut.length >= 2, 3000, 10, 'chart outputs');
  // ui_chart forwards its whole stored dataset: the same series/data/labels the feed sent (no bar swap)
  assert.deepEqual(got.usageOut[0].payload, got.fanU[0].payload);
  assert.deepEqual(got.usageOut[0].payload[0].series, ['used', 'remaining']);
  assert.deepEqual(got.trendOut[0].payload, got.fanT[0].payload);
  assert.deepEqual(got.trendOut[0].payload[0].data, [
    [0, 0, 0, 0, 2, 0, 0],
    [0, 0, 0, 0, 0, 0, 5],
  ]);
  // live points become one line series per account
  await sleep(120);
  const live = got.liveOut[got.liveOut.length - 1].payload[0];
  assert.deepEqual([...live.series].sort(), ['hunyuan', 'nvidia-1']);
  const ys = live.series.map((s: string, i: number) => [s, live.data[i][live.data[i].length - 1].y]);
  assert.deepEqual(ys.sort(), [
    ['hunyuan', 3],
    ['nvidia-1', 7],
  ]);
  for (const id of ['usageChart', 'trendChart', 'liveChart']) {
    const n = helper.getNode(id) as TestNode;
    const complaints = [...n.warn.getCalls(), ...n.error.getCalls()].filter((c) => c.thisValue === n);
    assert.equal(complaints.length, 0, `${id}: ${JSON.stringify(complaints.map((c) => c.args[0]))}`);
  }
});
