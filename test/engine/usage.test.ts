import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fromConsumeLogs,
  fromLogStats,
  fromOneApiDashboard,
  fromQuotaData,
  fromUsageRows,
  parseWindowSpec,
  usageWindow,
  fetchUsage,
  type UsageClient,
} from '../../engine/usage';
import { UsageLedger } from '../../engine/ledger/usage-ledger';
import { LocalPriorityTable } from '../../engine/ledger/local-priorities';

const H = 3600;

test('one-api dashboard rows (Go field names) become usage rows with usd from quota', () => {
  const res = fromOneApiDashboard(
    [
      { Day: '2026-01-02', ModelName: 'glm-4-7-251222', RequestCount: 4, Quota: 250000, PromptTokens: 1000, CompletionTokens: 500 },
      { Day: '2026-01-02', ModelName: 'glm-4-7-251222', RequestCount: 1, Quota: 250000, PromptTokens: 10, CompletionTokens: 5 },
      { Day: '2026-01-01', ModelName: 'kimi', RequestCount: 2, Quota: 0, PromptTokens: 7, CompletionTokens: 3 },
    ],
    { quotaPerUnit: 500000 },
  );
  assert.equal(res.skipped, 0);
  assert.deepEqual(res.rows, [
    { day: '2026-01-01', model: 'kimi', requests: 2, promptTokens: 7, completionTokens: 3, totalTokens: 10, quota: 0, usd: 0 },
    { day: '2026-01-02', model: 'glm-4-7-251222', requests: 5, promptTokens: 1010, completionTokens: 505, totalTokens: 1515, quota: 500000, usd: 1 },
  ]);
});

test('malformed rows are skipped and counted, never thrown on', () => {
  const res = fromOneApiDashboard([
    null,
    'x',
    { Day: 'yesterday', ModelName: 'a' },
    { Day: '2026-01-02', ModelName: '' },
    { Day: '2026-01-02', ModelName: 'a', PromptTokens: 'lots' },
    { Day: '2026-01-02', ModelName: 'a', PromptTokens: -5 },
    { Day: '2026-01-02', ModelName: 'a', PromptTokens: 5, CompletionTokens: '6' },
  ]);
  assert.equal(res.skipped, 6);
  assert.equal(res.rows.length, 1);
  assert.equal(res.rows[0].totalTokens, 11);
  assert.ok(res.reasons.length > 0 && res.reasons.length <= 5);
  // not a list at all: one skip, no rows
  assert.deepEqual(fromQuotaData({ oops: true }, 'UTC').skipped, 1);
  assert.deepEqual(fromUsageRows(undefined).rows, []);
});

test('new-api hourly rows are grouped into days of the configured timezone', () => {
  // 2026-01-01 16:00 UTC = 2026-01-02 00:00 in Shanghai; 15:00 UTC is still 2026-01-01 there.
  const t16 = Date.UTC(2026, 0, 1, 16) / 1000;
  const rows = [
    { model_name: 'glm', created_at: t16 - H, token_used: 100, count: 1, quota: 1000 },
    { model_name: 'glm', created_at: t16, token_used: 200, count: 2, quota: 2000 },
    { model_name: 'glm', created_at: t16 + H, token_used: 300, count: 3, quota: 3000 },
  ];
  const sh = fromQuotaData(rows, 'Asia/Shanghai');
  assert.deepEqual(
    sh.rows.map((r) => [r.day, r.totalTokens, r.requests, r.quota, r.promptTokens]),
    [
      ['2026-01-01', 100, 1, 1000, 0],
      ['2026-01-02', 500, 5, 5000, 0],
    ],
  );
  const utc = fromQuotaData(rows, 'UTC');
  assert.deepEqual(utc.rows.map((r) => [r.day, r.totalTokens]), [['2026-01-01', 600]]);
  assert.equal(utc.rows[0].usd, 6000 / 500000);
});

test('hourly rows across the Berlin spring-forward day fall into the right local days', () => {
  // 2026-03-29: midnight Berlin = 23:00 UTC on the 28th; the day has 23 hours.
  const start = Date.UTC(2026, 2, 28, 23) / 1000;
  const rows = [];
  for (let h = -1; h <= 23; h++) rows.push({ model_name: 'm', created_at: start + h * H, token_used: 1, count: 1, quota: 1 });
  const res = fromQuotaData(rows, 'Europe/Berlin');
  assert.deepEqual(res.rows.map((r) => [r.day, r.totalTokens]), [
    ['2026-03-28', 1],
    ['2026-03-29', 23],
    ['2026-03-30', 1],
  ]);
});

test('consume logs (seconds or ms) and log stats normalise per day and model', () => {
  const t = Date.UTC(2026, 0, 1, 12) / 1000;
  const logs = fromConsumeLogs(
    [
      { model: 'a', createdAt: t, promptTokens: 10, completionTokens: 5, quota: 30 },
      { model: 'a', createdAt: t * 1000 + 1, promptTokens: 1, completionTokens: 1, quota: 2 },
      { model: '', createdAt: t },
      { model: 'a', createdAt: 'noon' },
    ],
    'UTC',
  );
  assert.equal(logs.skipped, 2);
  assert.deepEqual(logs.rows.map((r) => [r.day, r.model, r.requests, r.promptTokens, r.completionTokens, r.totalTokens, r.quota]), [
    ['2026-01-01', 'a', 2, 11, 6, 17, 32],
  ]);
  const stats = fromLogStats([{ day: '2026-01-01', model: 'a', quota: 500000 }, { day: 'bad', model: 'a', quota: 1 }]);
  assert.equal(stats.skipped, 1);
  assert.equal(stats.rows[0].usd, 1);
  assert.equal(stats.rows[0].totalTokens, 0);
});

test('windows: today and the last N days in a timezone; rows outside are dropped', () => {
  const now = Date.UTC(2026, 0, 10, 20); // 2026-01-11 04:00 in Shanghai
  const today = usageWindow({ type: 'today' }, 'Asia/Shanghai', now);
  assert.deepEqual([today.firstDay, today.lastDay, today.days], ['2026-01-11', '2026-01-11', 1]);
  assert.equal(today.from, Date.UTC(2026, 0, 10, 16));
  assert.equal(today.to - today.from, 86400_000);
  const week = usageWindow(parseWindowSpec('days', '7'), 'Asia/Shanghai', now);
  assert.deepEqual([week.firstDay, week.lastDay, week.dayKeys.length], ['2026-01-05', '2026-01-11', 7]);
  const res = fromUsageRows(
    [
      { day: '2026-01-04', model: 'a', totalTokens: 1 },
      { day: '2026-01-05', model: 'a', totalTokens: 2 },
      { day: '2026-01-11', model: 'a', promptTokens: 3, completionTokens: 4 },
    ],
    { days: week.dayKeys },
  );
  assert.deepEqual(res.rows.map((r) => [r.day, r.totalTokens]), [
    ['2026-01-05', 2],
    ['2026-01-11', 7],
  ]);
  assert.throws(() => parseWindowSpec('days', 0), /whole number/);
  assert.throws(() => parseWindowSpec('week'), /today/);
  assert.throws(() => usageWindow({ type: 'today' }, 'Nowhere/City'), /unknown timezone/);
});

function fakeClient(flavour: 'one-api' | 'new-api', over: Partial<UsageClient> = {}): UsageClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    flavour: async () => flavour,
    status: async () => ({ quotaPerUnit: 1000 }),
    listChannels: async () => [{ id: 1, name: 'c1', models: ['glm', 'kimi'], priority: 5, weight: 0, status: 1, group: 'default' }],
    userDashboard: async () => {
      calls.push('dashboard');
      return [{ Day: '2026-01-11', ModelName: 'glm', RequestCount: 1, Quota: 500, PromptTokens: 1, CompletionTokens: 2 }];
    },
    logStat: async (q) => {
      calls.push(`stat:${q.modelName}`);
      return { quota: q.modelName === 'glm' ? 100 : 0 };
    },
    consumeLogs: async () => {
      calls.push('logs');
      throw Object.assign(new Error('Invalid URL'), { code: 'NOT_FOUND' });
    },
    quotaData: async (s, e) => {
      calls.push(`data:${s}-${e}`);
      return [{ model_name: 'glm', created_at: Date.UTC(2026, 0, 11, 1) / 1000, token_used: 9, count: 1, quota: 10 }];
    },
    ...over,
  };
}

test('fetchUsage picks the source by flavour and returns channels and quotaPerUnit', async () => {
  const now = Date.UTC(2026, 0, 11, 12);
  const window = usageWindow({ type: 'today' }, 'UTC', now);
  const oneApi = fakeClient('one-api');
  // auto on One API: all users (consume logs, here refused, so per-model log stats), never the caller-only dashboard
  const r1 = await fetchUsage({ source: 'auto', window, client: oneApi });
  assert.equal(r1.source, 'one-api-logs');
  assert.ok(!oneApi.calls.includes('dashboard'), 'the dashboard (own usage, 7 UTC days) is not used by auto');
  assert.deepEqual(r1.rows.map((r) => [r.model, r.quota, r.usd]), [['glm', 100, 0.1]]);
  const dash = await fetchUsage({ source: 'one-api-dashboard', window, client: fakeClient('one-api') });
  assert.equal(dash.rows[0].usd, 0.5);
  assert.deepEqual(r1.channels, [{ id: 1, name: 'c1', models: ['glm', 'kimi'], priority: 5, weight: 0, status: 1 }]);
  const newApi = fakeClient('new-api');
  const r2 = await fetchUsage({ source: 'auto', window, client: newApi });
  assert.equal(r2.source, 'new-api-data');
  assert.equal(newApi.calls[0], `data:${window.from / 1000}-${window.to / 1000 - 1}`);
  assert.equal(r2.rows[0].totalTokens, 9);
  // log source: falls back to per-model /api/log/stat when the log listing is refused
  const logs = fakeClient('one-api');
  const r3 = await fetchUsage({ source: 'one-api-logs', window, client: logs });
  assert.deepEqual(logs.calls.sort(), ['logs', 'stat:glm', 'stat:kimi']);
  assert.deepEqual(r3.rows.map((r) => [r.model, r.quota]), [['glm', 100]]);
  // any other failure is not hidden
  const broken = fakeClient('one-api', { consumeLogs: async () => Promise.reject(Object.assign(new Error('down'), { code: 'UNREACHABLE' })) });
  await assert.rejects(fetchUsage({ source: 'one-api-logs', window, client: broken }), /down/);
  await assert.rejects(fetchUsage({ source: 'new-api-data', window, client: null }), /no One API server/);
});

test('fetchUsage counts the malformed rows a client passes on, for every gateway source', async () => {
  const now = Date.UTC(2026, 0, 11, 12);
  const window = usageWindow({ type: 'today' }, 'UTC', now);
  const sec = now / 1000;
  const dash = await fetchUsage({
    source: 'one-api-dashboard',
    window,
    client: fakeClient('one-api', { userDashboard: async () => [null, { Day: '2026-01-11', ModelName: 'glm', Quota: 'x' }, { Day: '2026-01-11', ModelName: 'glm', RequestCount: 2, Quota: 10 }] }),
  });
  assert.deepEqual([dash.skipped, dash.rows.length, dash.rows[0].quota], [2, 1, 10]);
  const data = await fetchUsage({
    source: 'new-api-data',
    window,
    client: fakeClient('new-api', { quotaData: async () => [7, { model_name: 'glm', created_at: sec, token_used: -1, count: 1, quota: 1 }, { model_name: 'glm', created_at: sec, token_used: 3, count: 1, quota: 1 }] }),
  });
  assert.deepEqual([data.skipped, data.rows[0].totalTokens], [2, 3]);
  const logs = await fetchUsage({
    source: 'one-api-logs',
    window,
    client: fakeClient('one-api', {
      consumeLogs: async () => ['x', { model: 'glm', createdAt: sec, quota: 1, malformed: 'unreadable log type' }, { model: 'glm', createdAt: sec, promptTokens: 1, completionTokens: 1, quota: 2 }],
    }),
  });
  assert.deepEqual([logs.skipped, logs.rows[0].quota], [2, 2]);
  assert.ok(logs.reasons.includes('unreadable log type'));
  const stats = await fetchUsage({ source: 'one-api-logs', window, client: fakeClient('one-api', { logStat: async () => ({ quota: NaN }) }) });
  assert.deepEqual([stats.skipped, stats.rows.length], [2, 0], 'an unreadable /api/log/stat quota per model is skipped, not 0');
});

test('fetchUsage local source reads the ledger and the local priority table', async () => {
  const ledger = new UsageLedger();
  const table = new LocalPriorityTable();
  table.register('nvidia-1', 'deepseek', 5);
  const now = Date.UTC(2026, 0, 11, 12);
  await ledger.record({ time: now - 1000, model: 'deepseek', promptTokens: 10, completionTokens: 5, usd: 0.01 });
  await ledger.record({ time: now - 3 * 86400_000, model: 'deepseek', promptTokens: 1 });
  const window = usageWindow({ type: 'today' }, 'UTC', now);
  const r = await fetchUsage({ source: 'local', window, ledger, localChannels: () => table.list() });
  assert.equal(r.source, 'local');
  assert.deepEqual(r.rows.map((x) => [x.day, x.totalTokens, x.usd]), [['2026-01-11', 15, 0.01]]);
  assert.equal(r.channels[0].id, 'nvidia-1/deepseek');
});
