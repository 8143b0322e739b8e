import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlertLog,
  DashboardFeed,
  alertRows,
  boardRows,
  channelTable,
  classifyInput,
  formatTime,
  gaugeMessages,
  livePoints,
  mergeBoardReports,
  normalizeReport,
  providerTable,
  readProviderSnapshots,
  setProviderSnapshotSource,
  stackedControl,
  summarizeBreakers,
  trendChart,
  usageChart,
  STATE_COLORS,
  type DashboardChannel,
  type DashboardUsageRow,
  type QuotaReport,
} from '../../engine/dashboard';
import { addDays } from '../../engine/time/zoned';
import type { ProviderSnapshot } from '../../engine/routing/types';

function report(model: string, used: number, limit: number | null, state: QuotaReport['state'], extra: Partial<QuotaReport> = {}): QuotaReport {
  return {
    model,
    used,
    limit,
    unit: 'tokens',
    percent: limit ? (used / limit) * 100 : 0,
    state,
    channels: [],
    priority: null,
    ...extra,
  };
}

function row(day: string, model: string, totalTokens: number, requests = 1): DashboardUsageRow {
  return { day, model, requests, promptTokens: Math.floor(totalTokens / 2), completionTokens: totalTokens - Math.floor(totalTokens / 2), totalTokens, quota: totalTokens * 2, usd: totalTokens / 1e6 };
}

function snapshot(name: string, breakers: ProviderSnapshot['breakers'], extra: Partial<ProviderSnapshot> = {}): ProviderSnapshot {
  return { id: `id-${name}`, name, rpmUsed: 0, rpmLimit: null, inFlight: 0, maxConcurrent: null, queued: 0, breakers, healthy: null, shared: null, successRate: null, p50LatencyMs: null, ...extra };
}

const SPEC_REPORTS: QuotaReport[] = [
  report('GLM-4-7-251222', 2_000_000, 2_400_000, 'warn', { channels: [3], priority: 5 }),
  report('DeepSeek-V3-2-251201', 1_950_000, 1_900_000, 'exhausted', { channels: [1], priority: 0 }),
  report('Kimi-K2-Thinking-251104', 100_000, 1_900_000, 'ok', { channels: [5], priority: 3 }),
  report('Doubao-Seed-Code-Preview-251028', 0, 4_900_000, 'ok', { channels: [4, 6], priority: 4 }),
];

test('usage chart (amount): stacked used/remaining per model, labels sorted case-insensitively', () => {
  const msg = usageChart(SPEC_REPORTS);
  const sorted = [...SPEC_REPORTS].sort((a, b) => a.model.toLowerCase().localeCompare(b.model.toLowerCase()));
  assert.deepEqual(msg.payload, [
    {
      series: ['used', 'remaining'],
      data: [sorted.map((r) => r.used), sorted.map((r) => Math.max(0, (r.limit ?? 0) - r.used))],
      labels: sorted.map((r) => r.model),
    },
  ]);
  // DeepSeek is over its allowance: remaining is 0, never negative
  const i = msg.payload[0].labels.indexOf('DeepSeek-V3-2-251201');
  assert.equal(msg.payload[0].data[1][i], 0);
  assert.deepEqual(msg.ui_control, { options: { scales: { xAxes: [{ stacked: true }], yAxes: [{ stacked: true }] } } });
  assert.deepEqual(msg.ui_control, stackedControl());
});

test('usage chart keeps one bar per model (case-insensitive, latest report wins) and has no remaining without a limit', () => {
  const msg = usageChart([report('glm', 10, 100, 'ok'), report('GLM', 30, 100, 'ok'), report('local-only', 7, null, 'unknown')]);
  assert.deepEqual(msg.payload[0].labels, ['GLM', 'local-only']);
  assert.deepEqual(msg.payload[0].data, [
    [30, 7],
    [70, 0],
  ]);
});

test('usage chart (percent) and gauges carry the percent rounded to one decimal', () => {
  const msg = usageChart(SPEC_REPORTS, 'percent');
  const sorted = [...SPEC_REPORTS].sort((a, b) => a.model.toLowerCase().localeCompare(b.model.toLowerCase()));
  const expected = sorted.map((r) => Math.round(r.percent * 10) / 10);
  assert.deepEqual(msg.payload, [{ series: ['used %'], data: [expected], labels: sorted.map((r) => r.model) }]);
  assert.equal(msg.ui_control, undefined);
  assert.deepEqual(
    gaugeMessages(SPEC_REPORTS),
    sorted.map((r, k) => ({ topic: r.model, payload: expected[k], state: r.state })),
  );
  assert.deepEqual(usageChart([]).payload, [], 'no reports clears the chart');
});

test('7-day trend: contiguous days ending on the newest day, models sorted, same-day rows summed, gaps are 0', () => {
  const end = '2026-03-02';
  const rows: DashboardUsageRow[] = [];
  const models = ['kimi', 'DeepSeek', 'glm'];
  // 10 days of data (3 older than the window), with a gap for glm two days ago
  for (let d = 9; d >= 0; d--) {
    const day = addDays(end, -d);
    models.forEach((m, k) => {
      if (m === 'glm' && d === 2) return;
      rows.push(row(day, m, 1000 * (k + 1) + d));
    });
  }
  rows.push(row(end, 'deepseek', 5)); // same model, other spelling, same day: summed
  const msg = trendChart(rows);
  const days: string[] = [];
  for (let d = 6; d >= 0; d--) days.push(addDays(end, -d));
  assert.deepEqual(days[0], '2026-02-24');
  const names = ['DeepSeek', 'glm', 'kimi'];
  const expected = names.map((n) => days.map((day) => rows.filter((r) => r.day === day && r.model.toLowerCase() === n.toLowerCase()).reduce((s, r) => s + r.totalTokens, 0)));
  assert.deepEqual(msg.payload, [{ series: names, data: expected, labels: days }]);
  assert.equal(expected[1][4], 0, 'the gap day is 0');
  assert.deepEqual(msg.ui_control, stackedControl());
});

test('trend honours days, metric and an explicit end day', () => {
  const rows = [row('2026-01-01', 'a', 10, 3), row('2026-01-03', 'a', 20, 4), row('2026-01-03', 'b', 1, 9), row('2026-01-04', 'b', 1, 100)];
  const msg = trendChart(rows, { days: 3, metric: 'requests', endDay: '2026-01-03' });
  assert.deepEqual(msg.payload, [
    {
      series: ['a', 'b'],
      data: [
        [3, 0, 4],
        [0, 0, 9],
      ],
      labels: ['2026-01-01', '2026-01-02', '2026-01-03'],
    },
  ]);
  assert.deepEqual(trendChart([]).payload, []);
});

test('channel table merges channels with reports: status words, usage, worst state, priority order', () => {
  const channels: DashboardChannel[] = [
    { id: 1, name: 'deepseek', models: ['deepseek-v3-2-251201'], priority: 0, weight: 1, status: 1 },
    { id: 3, name: 'glm', models: ['glm-4-7-251222'], priority: 5, weight: 1, status: 1 },
    { id: 4, name: 'doubao', models: ['doubao-seed-code-preview-251028', 'kimi-k2-thinking-251104'], priority: 4, weight: 2, status: 3 },
    { id: 9, name: 'off', models: ['x'], priority: 7, weight: 0, status: 2 },
  ];
  const rows = channelTable(channels, SPEC_REPORTS);
  assert.deepEqual(
    rows.map((r) => r.id),
    [9, 3, 4, 1],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  assert.deepEqual(byId.get(3), { id: 3, name: 'glm', models: 'glm-4-7-251222', priority: 5, weight: 1, status: 'enabled', usage: `${(Math.round((2_000_000 / 2_400_000) * 1000) / 10).toFixed(1)}%`, health: 'warn' });
  assert.equal(byId.get(1)!.health, 'exhausted');
  assert.equal(byId.get(1)!.usage, `${(Math.round((1_950_000 / 1_900_000) * 1000) / 10).toFixed(1)}%`);
  // two models: the higher percent and the worse state count
  assert.equal(byId.get(4)!.usage, `${(Math.round((100_000 / 1_900_000) * 1000) / 10).toFixed(1)}%`);
  assert.equal(byId.get(4)!.health, 'ok');
  assert.equal(byId.get(4)!.status, 'auto-disabled');
  assert.equal(byId.get(9)!.status, 'disabled');
  assert.equal(byId.get(9)!.health, '');
});

test('channel table: local channels show their account breaker; without channels rows come from the reports', () => {
  const local: DashboardChannel[] = [
    { id: 'nvidia-1/glm-4', name: 'nvidia-1/glm-4', models: ['glm-4'], priority: 3, weight: 1, status: 1 },
    { id: 'hunyuan/hy', name: 'hunyuan/hy', models: ['hy'], priority: 2, weight: 1, status: 1 },
  ];
  const snaps = [snapshot('nvidia-1', [{ model: 'GLM-4', state: 'open', failures: 5 }]), snapshot('hunyuan', [{ model: 'hy', state: 'closed', failures: 0 }], { healthy: false })];
  const rows = channelTable(local, [report('glm-4', 1, 10, 'ok')], snaps);
  assert.equal(rows[0].health, 'breaker open');
  assert.equal(rows[1].health, 'probe failing');

  const derived = channelTable(null, [report('a', 1, 10, 'ok', { channels: [7], priority: 2 }), report('b', 9, 10, 'warn', { channels: [7, 8], priority: 1 })]);
  assert.deepEqual(
    derived.map((r) => [r.id, r.models, r.health]),
    [
      [7, 'a, b', 'warn'],
      [8, 'b', 'warn'],
    ],
  );
});

test('provider table and live points: one row / point per account, sorted', () => {
  const snaps = [
    snapshot('nvidia-2', [{ model: 'm1', state: 'halfOpen', failures: 2 }, { model: 'm2', state: 'open', failures: 9 }], { rpmUsed: 12, rpmLimit: 40, inFlight: 2, maxConcurrent: 5, queued: 3, successRate: 0.975, p50LatencyMs: 812.4, shared: 'connected', healthy: true }),
    snapshot('hunyuan', [{ model: 'hy', state: 'closed', failures: 0 }], { rpmUsed: 4 }),
  ];
  assert.deepEqual(livePoints(snaps), [
    { topic: 'hunyuan', payload: 4 },
    { topic: 'nvidia-2', payload: 12 },
  ]);
  assert.deepEqual(providerTable(snaps), [
    { account: 'hunyuan', rpm: '4 / ∞', concurrent: '0 / ∞', queued: 0, breakers: 'closed', healthy: '', shared: '', successRate: '', p50: '' },
    { account: 'nvidia-2', rpm: '12 / 40', concurrent: '2 / 5', queued: 3, breakers: 'open: m2; half-open: m1', healthy: 'yes', shared: 'redis', successRate: '97.5%', p50: '812 ms' },
  ]);
  assert.equal(summarizeBreakers([]), '');
});

test('alert log is bounded and newest first; rows format the time in the given timezone', () => {
  const log = new AlertLog(3);
  const t0 = Date.UTC(2026, 0, 1, 17, 0, 5);
  for (let i = 0; i < 5; i++) log.add({ model: `m${i}`, from: 'ok', to: 'warn', state: 'warn', percent: 80 + i, message: `m${i} at ${80 + i}%`, time: t0 + i * 1000 });
  const list = log.list();
  assert.deepEqual(
    list.map((a) => a.model),
    ['m4', 'm3', 'm2'],
  );
  const rows = alertRows(list, 'Asia/Shanghai');
  assert.deepEqual(rows[0], { time: '2026-01-02 01:00:09', model: 'm4', state: 'warn', change: 'ok → warn', percent: '84.0%', message: 'm4 at 84%' });
  assert.equal(formatTime(t0, 'UTC'), '2026-01-01 17:00:05');
});

test('classifyInput recognises rows+channels, reports, alerts, snapshots and commands', () => {
  const now = 1_700_000_000_000;
  const a = classifyInput({ payload: [row('2026-01-01', 'm', 5)], channels: [{ id: 1, name: 'c', models: 'm,n', priority: '3', status: 1 }] }, now);
  assert.equal(a.rows!.length, 1);
  assert.deepEqual(a.channels, [{ id: 1, name: 'c', models: ['m', 'n'], priority: 3, weight: null, status: 1 }]);
  const b = classifyInput({ payload: { model: 'x', used: 5, limit: 10, unit: 'tokens', percent: 50, state: 'ok', channels: [1], priority: 2 } }, now);
  assert.equal(b.reports![0].model, 'x');
  const c = classifyInput({ payload: [{ model: 'x', used: '7', limit: 10, state: 'WARN' }, { model: 'y', from: 'ok', to: 'warn', state: 'warn', percent: 81, message: 'y is at 81%' }] }, now);
  assert.equal(c.reports![0].used, 7);
  assert.equal(c.reports![0].percent, 70);
  assert.equal(c.reports![0].state, 'warn');
  assert.deepEqual(c.alerts, [{ model: 'y', from: 'ok', to: 'warn', state: 'warn', percent: 81, message: 'y is at 81%', time: now }]);
  const d = classifyInput({ payload: [snapshot('acc', [])] }, now);
  assert.equal(d.snapshots![0].name, 'acc');
  assert.equal(classifyInput({ topic: 'clear' }, now).command, 'clear');
  assert.equal(classifyInput({ reset: true, payload: 1 }, now).command, 'clear');
  assert.deepEqual(classifyInput({ payload: [] }, now), { skipped: 0 });
  assert.throws(() => classifyInput({ payload: 'hello' }, now), /unrecognised input/);
  assert.throws(() => classifyInput({ payload: [{ foo: 1 }, 2, null] }, now), /unrecognised input/);
  // control characters go, length is bounded, markup stays as text (escaped by the renderer)
  const e = classifyInput({ payload: { model: '<b>x</b>\u0000\u0007' + 'y'.repeat(500), used: 1, limit: 2, state: 'ok' } }, now);
  assert.ok(e.reports![0].model.startsWith('<b>x</b>y'));
  assert.equal(e.reports![0].model.length, 200);
});

test('feed: rows give the trend, reports give usage, gauges and the channel table, alerts the alert table', () => {
  const feed = new DashboardFeed({ trendDays: 2 });
  const rows = [row('2026-05-01', 'glm', 10), row('2026-05-02', 'glm', 20)];
  const channels: DashboardChannel[] = [{ id: 3, name: 'glm', models: ['GLM'], priority: 5, weight: 1, status: 1 }];
  const o1 = feed.ingest({ rows, channels, skipped: 0 });
  assert.deepEqual(o1.trend!.payload, [{ series: ['glm'], data: [[10, 20]], labels: ['2026-05-01', '2026-05-02'] }]);
  assert.equal(o1.usage, undefined);
  assert.deepEqual(
    o1.channels!.payload.map((r) => [r.id, r.health]),
    [[3, '']],
  );
  const o2 = feed.ingest({ reports: [report('glm', 90, 100, 'warn')], skipped: 0 });
  assert.deepEqual(o2.usage!.payload, usageChart([report('glm', 90, 100, 'warn')]).payload);
  assert.deepEqual(o2.gauges, [{ topic: 'glm', payload: 90, state: 'warn' }]);
  assert.equal(o2.channels!.payload[0].health, 'warn', 'a later report updates the channel table');
  assert.equal(o2.trend, undefined);
  // a new fetch of one day replaces that day and drops days outside the window
  const o3 = feed.ingest({ rows: [row('2026-05-03', 'glm', 5), row('2026-05-03', 'kimi', 7)], skipped: 0 });
  assert.deepEqual(o3.trend!.payload, [
    {
      series: ['glm', 'kimi'],
      data: [
        [20, 5],
        [0, 7],
      ],
      labels: ['2026-05-02', '2026-05-03'],
    },
  ]);
  assert.equal(feed.state().rows.length, 3);
  const o4 = feed.ingest({ alerts: [{ model: 'glm', from: 'ok', to: 'warn', state: 'warn', percent: 90, message: 'glm at 90%', time: 1 }], skipped: 0 });
  assert.equal(o4.alerts!.payload.length, 1);
  const replay = feed.replay();
  assert.ok(replay.usage && replay.trend && replay.channels && replay.alerts && replay.gauges);
  const cleared = feed.clear();
  for (const k of ['usage', 'trend', 'channels', 'alerts', 'providers'] as const) assert.deepEqual(cleared[k]!.payload, [], k);
  assert.deepEqual(feed.replay(), {});
});

test('feed ticks: nothing without a registry, live points every tick, tables only on change', () => {
  const feed = new DashboardFeed();
  assert.deepEqual(feed.tick(null), {});
  const snaps = [snapshot('nvidia-1', [{ model: 'm', state: 'closed', failures: 0 }], { rpmUsed: 3, rpmLimit: 40 })];
  const t1 = feed.tick(snaps);
  assert.deepEqual(t1.live, [{ topic: 'nvidia-1', payload: 3 }]);
  assert.deepEqual(t1.providers!.payload, providerTable(snaps));
  const t2 = feed.tick(snaps);
  assert.deepEqual(t2.live, [{ topic: 'nvidia-1', payload: 3 }]);
  assert.equal(t2.providers, undefined, 'unchanged provider table is not resent');
  const snaps2 = [snapshot('nvidia-1', [{ model: 'm', state: 'open', failures: 5 }], { rpmUsed: 3, rpmLimit: 40 })];
  assert.equal(feed.tick(snaps2).providers!.payload[0].breakers, 'open: m');
});

test('quota board rows: one per model, sorted, state colours, clamped bars, breakers by model, text kept verbatim', () => {
  const store = new Map<string, QuotaReport>();
  const hostile = '<img src=x onerror=alert(1)>';
  mergeBoardReports(store, [report('zeta', 50, 100, 'ok', { priority: 4 }), report(hostile, 250, 100, 'exhausted', { priority: 0 }), report('Alpha', 85, 100, 'warn')]);
  mergeBoardReports(store, [report('ZETA', 60, 100, 'ok', { priority: 4 })]);
  const snaps = [snapshot('nvidia-1', [{ model: 'zeta', state: 'open', failures: 5 }]), snapshot('hunyuan', [{ model: 'Zeta', state: 'closed', failures: 0 }])];
  const rows = boardRows(store.values(), snaps);
  assert.deepEqual(
    rows.map((r) => r.model),
    [hostile, 'Alpha', 'ZETA'],
  );
  assert.deepEqual(
    rows.map((r) => [r.state, r.color, r.barWidth, r.percentText, r.priority, r.breaker]),
    [
      ['exhausted', STATE_COLORS.exhausted, 100, '250.0%', '0', ''],
      ['warn', STATE_COLORS.warn, 85, '85.0%', '', ''],
      ['ok', STATE_COLORS.ok, 60, '60.0%', '4', 'open: nvidia-1'],
    ],
  );
  assert.equal(rows[2].usedText, '60 / 100 tokens');
  assert.equal(boardRows([normalizeReport({ model: 'm', used: 1_234_567, limit: 1_900_000, unit: 'tokens', state: 'ok' })])[0].usedText, '1.23M / 1.9M tokens');
});

test('provider snapshots come from the configured source and are normalised; a failing source means none', () => {
  try {
    setProviderSnapshotSource(() => [{ ...snapshot('acc', [{ model: 'm', state: 'weird' as never, failures: -1 }]), rpmUsed: 'x' as never }]);
    const s = readProviderSnapshots()!;
    assert.equal(s[0].rpmUsed, 0);
    assert.deepEqual(s[0].breakers, [{ model: 'm', state: 'closed', failures: 0 }]);
    setProviderSnapshotSource(() => {
      throw new Error('boom');
    });
    assert.equal(readProviderSnapshots(), null);
    setProviderSnapshotSource(() => null);
    assert.equal(readProviderSnapshots(), null);
  } finally {
    setProviderSnapshotSource(null);
  }
});

test('quota-check alerts ({model, kind, from, to, used, limit, ..., text}) are alerts, not reports', () => {
  const now = Date.UTC(2026, 10, 22, 4, 0);
  const alert = { model: 'GLM-4-7-251222', kind: 'warn', from: 'ok', to: 'warn', used: 2_000_000, limit: 2_400_000, unit: 'tokens', percent: 83.3, channels: [3], text: 'GLM-4-7-251222 is near its allowance' };
  const sorted = classifyInput({ payload: alert }, now);
  assert.equal(sorted.reports, undefined, 'an alert must not overwrite the model report');
  assert.equal(sorted.alerts?.length, 1);
  assert.equal(sorted.alerts?.[0].state, 'warn');
  assert.equal(sorted.alerts?.[0].message, alert.text);
  // a report of the same model (no state change) is still a report
  const report = classifyInput({ payload: { model: 'GLM-4-7-251222', used: 2_000_000, limit: 2_400_000, unit: 'tokens', percent: 83.3, state: 'warn', channels: [3], priority: 5 } }, now);
  assert.equal(report.reports?.length, 1);
  assert.equal(report.alerts, undefined);
});
