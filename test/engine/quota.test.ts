import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyChanges,
  evaluateQuota,
  localTarget,
  parseAllowances,
  parseChangeRequests,
  parseChannelMap,
  worstState,
  emptyMemory,
  gatewayTarget,
  type ApplyTarget,
  type PriorityClient,
  type KnownChannel,
  type QuotaChannel,
} from '../../engine/quota';
import type { UsageRow } from '../../engine/ledger/usage-ledger';
import { LocalPriorityTable } from '../../engine/ledger/local-priorities';

const NOW = Date.UTC(2026, 0, 11, 12); // 2026-01-11 in UTC and Shanghai

function row(day: string, model: string, totalTokens: number, extra: Partial<UsageRow> = {}): UsageRow {
  return { day, model, requests: 1, promptTokens: 0, completionTokens: 0, totalTokens, quota: 0, usd: 0, ...extra };
}

const channels: QuotaChannel[] = [
  { id: 1, name: 'volc-deepseek-v3-2', models: ['deepseek-v3-2-251201'], priority: 7 },
  { id: 3, name: 'volc-glm-4-7', models: ['glm-4-7-251222'], priority: 5 },
  { id: 5, name: 'volc-kimi-k2', models: ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview'], priority: 3 },
];

const allowances = parseAllowances([
  { model: 'DeepSeek-V3-2-251201', limit: '1.9M', unit: 'tokens', window: 'day', baselinePriority: 7 },
  { model: 'GLM-4-7-251222', limit: 2_400_000, window: { type: 'day', tz: 'Asia/Shanghai' }, baselinePriority: 5, warnPercent: 50 },
  { model: 'Kimi-K2-Thinking-251104', limit: 1_900_000, baselinePriority: 3 },
]);

test('allowances: parsing, defaults and clear errors', () => {
  assert.equal(allowances[0].limit, 1_900_000);
  assert.equal(allowances[0].warnPercent, 80);
  assert.deepEqual(allowances[1].window, { type: 'day', tz: 'Asia/Shanghai' });
  assert.deepEqual(parseAllowances('[{"model":"x","limit":5,"unit":"usd","window":"total","since":"2026-01-01"}]')[0].window, { type: 'total', since: '2026-01-01' });
  assert.throws(() => parseAllowances([]), /no allowances configured/);
  assert.throws(() => parseAllowances(''), /no allowances configured/);
  assert.throws(() => parseAllowances([{ model: 'x', limit: 0 }]), /allowance 1 \(x\): limit/);
  assert.throws(() => parseAllowances([{ model: 'x', limit: 1, unit: 'bytes' }]), /unit must be/);
  assert.throws(() => parseAllowances([{ model: 'x', limit: 1, window: 'total' }]), /since/);
  assert.throws(() => parseAllowances([{ model: 'x', limit: 1, window: 'day', tz: 'Mars/Base' }]), /unknown timezone/);
  assert.throws(() => parseAllowances([{ model: 'x', limit: 1 }, { model: 'X', limit: 2 }]), /more than one allowance/);
  assert.throws(() => parseAllowances('{oops'), /not valid JSON/);
});

test('usage under the limits: ok, no changes, no alerts; reports per model', () => {
  const r = evaluateQuota({ allowances, rows: [row('2026-01-11', 'deepseek-v3-2-251201', 1000)], channels, defaultTimeZone: 'UTC', now: NOW });
  assert.equal(r.changes.length, 0);
  assert.equal(r.alerts.length, 0);
  const ds = r.reports[0];
  assert.deepEqual(
    { model: ds.model, used: ds.used, limit: ds.limit, unit: ds.unit, state: ds.state, channels: ds.channels, priority: ds.priority, multiModel: ds.multiModel },
    { model: 'DeepSeek-V3-2-251201', used: 1000, limit: 1_900_000, unit: 'tokens', state: 'ok', channels: [1], priority: 7, multiModel: false },
  );
  assert.equal(ds.percent, 0.1);
});

test('an exhausted model demotes exactly its channel, once; case-insensitive match; only today counts', () => {
  const rows = [
    row('2026-01-10', 'deepseek-v3-2-251201', 5_000_000), // yesterday: outside the day window
    row('2026-01-11', 'DEEPSEEK-v3-2-251201', 1_000_000),
    row('2026-01-11', 'deepseek-v3-2-251201', 900_000),
  ];
  const first = evaluateQuota({ allowances, rows, channels, defaultTimeZone: 'UTC', now: NOW });
  assert.equal(first.reports[0].used, 1_900_000);
  assert.equal(first.reports[0].state, 'exhausted');
  assert.deepEqual(first.changes, [
    {
      id: 1,
      name: 'volc-deepseek-v3-2',
      priority: 0,
      old: 7,
      reason: 'exhausted',
      model: 'DeepSeek-V3-2-251201',
      causes: ['DeepSeek-V3-2-251201'],
      multiModel: false,
      models: ['deepseek-v3-2-251201'],
    },
  ]);
  assert.deepEqual(first.alerts.map((a) => [a.model, a.kind, a.from, a.to]), [['DeepSeek-V3-2-251201', 'exhausted', 'ok', 'exhausted']]);

  // The next poll sees the channel at 0: nothing to write, no repeated alert.
  const demoted = channels.map((c) => (c.id === 1 ? { ...c, priority: 0 } : c));
  const second = evaluateQuota({ allowances, rows, channels: demoted, memory: first.memory, defaultTimeZone: 'UTC', now: NOW + 300_000 });
  assert.equal(second.changes.length, 0);
  assert.equal(second.alerts.length, 0);
  assert.equal(second.reports[0].priority, 0);
});

test('alerts once per state change: ok->warn, warn->exhausted, ->recovered', () => {
  let memory = emptyMemory();
  const run = (used: number, chans = channels) => {
    const r = evaluateQuota({ allowances, rows: [row('2026-01-11', 'glm-4-7-251222', used)], channels: chans, memory, defaultTimeZone: 'UTC', now: NOW });
    memory = r.memory;
    return r;
  };
  assert.deepEqual(run(1_000_000).alerts, []);
  const warn = run(1_300_000); // 54 % >= 50 % warn threshold
  assert.deepEqual(warn.alerts.map((a) => a.kind), ['warn']);
  assert.match(warn.alerts[0].text, /GLM-4-7-251222 is near its allowance: 1,300,000 of 2,400,000 tokens \(54.2%\)/);
  assert.deepEqual(run(1_400_000).alerts, []);
  const ex = run(2_500_000);
  assert.deepEqual(ex.alerts.map((a) => [a.kind, a.from]), [['exhausted', 'warn']]);
  assert.equal(ex.changes.length, 1);
  assert.deepEqual(run(2_600_000, channels.map((c) => (c.id === 3 ? { ...c, priority: 0 } : c))).alerts, []);
  const rec = run(10, channels.map((c) => (c.id === 3 ? { ...c, priority: 0 } : c)));
  assert.deepEqual(rec.alerts.map((a) => [a.kind, a.from, a.to]), [['recovered', 'exhausted', 'ok']]);
  // without restoreOnRecovery the guard never raises a priority (the daily reset does)
  assert.equal(rec.changes.length, 0);
  assert.equal(worstState(rec.reports)?.state, 'ok');
});

test('restoreOnRecovery restores only channels this guard demoted, to their baseline', () => {
  const over = [row('2026-01-11', 'glm-4-7-251222', 3_000_000)];
  const a = evaluateQuota({ allowances, rows: over, channels, defaultTimeZone: 'UTC', now: NOW, restoreOnRecovery: true });
  assert.equal(a.changes[0].id, 3);
  // Channel 1 was set to 0 by hand: it is not ours to restore.
  const state = channels.map((c) => (c.id === 3 || c.id === 1 ? { ...c, priority: 0 } : c));
  const b = evaluateQuota({ allowances, rows: [], channels: state, memory: a.memory, defaultTimeZone: 'UTC', now: NOW, restoreOnRecovery: true });
  assert.deepEqual(b.changes.map((c) => [c.id, c.priority, c.old, c.reason]), [[3, 5, 0, 'recovered']]);
  // A later poll does not restore again.
  const c = evaluateQuota({ allowances, rows: [], channels: state, memory: b.memory, defaultTimeZone: 'UTC', now: NOW, restoreOnRecovery: true });
  assert.equal(c.changes.length, 0);
});

test('a channel carrying two models is flagged on the change and the report', () => {
  const r = evaluateQuota({ allowances, rows: [row('2026-01-11', 'kimi-k2-thinking-251104', 2_000_000)], channels, defaultTimeZone: 'UTC', now: NOW });
  assert.equal(r.changes.length, 1);
  assert.equal(r.changes[0].id, 5);
  assert.equal(r.changes[0].multiModel, true);
  assert.deepEqual(r.changes[0].models, ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview']);
  const rep = r.reports.find((x) => x.model === 'Kimi-K2-Thinking-251104');
  assert.equal(rep?.multiModel, true);
  assert.deepEqual(rep?.models, ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview']);
});

test('two exhausted models on one channel give one change; explicit channel map wins', () => {
  const two = parseAllowances([
    { model: 'a', limit: 10 },
    { model: 'b', limit: 10 },
  ]);
  const chans = [{ id: 9, name: 'shared', models: ['a', 'b'], priority: 4 }, { id: 10, name: 'other', models: [], priority: 2 }];
  const r = evaluateQuota({ allowances: two, rows: [row('2026-01-11', 'a', 10), row('2026-01-11', 'b', 11)], channels: chans, defaultTimeZone: 'UTC', now: NOW });
  assert.deepEqual(r.changes.map((c) => [c.id, c.causes]), [[9, ['a', 'b']]]);
  const map = parseChannelMap({ a: 'other' });
  const m = evaluateQuota({ allowances: two, rows: [row('2026-01-11', 'a', 10)], channels: chans, channelMap: map, defaultTimeZone: 'UTC', now: NOW });
  assert.deepEqual(m.changes.map((c) => c.id), [10]);
  assert.deepEqual(parseChannelMap([{ model: 'X', channels: '3, 4' }])?.get('x'), [3, 4]);
  assert.throws(() => parseChannelMap('nope'), /not valid JSON/);
});

test('units and windows: quota, requests, usd; month in a timezone; total since a date', () => {
  const al = parseAllowances([
    { model: 'q', limit: 100, unit: 'quota', window: 'month' },
    { model: 'r', limit: 3, unit: 'requests', window: 'total', since: '2026-01-05' },
    { model: 'u', limit: 1, unit: 'usd', window: 'day' },
  ]);
  const rows = [
    row('2025-12-31', 'q', 0, { quota: 1000 }),
    row('2026-01-01', 'q', 0, { quota: 60 }),
    row('2026-01-11', 'q', 0, { quota: 30 }),
    row('2026-01-04', 'r', 0, { requests: 10 }),
    row('2026-01-06', 'r', 0, { requests: 2 }),
    row('2026-01-11', 'u', 0, { usd: 0.85 }),
  ];
  const r = evaluateQuota({ allowances: al, rows, channels: [], defaultTimeZone: 'UTC', now: NOW, rowsFirstDay: '2026-01-05' });
  assert.deepEqual(r.reports.map((x) => [x.model, x.used, x.state]), [
    ['q', 90, 'warn'],
    ['r', 2, 'ok'],
    ['u', 0.85, 'warn'],
  ]);
  assert.equal(r.reports[0].window.firstDay, '2026-01-01');
  assert.equal(r.reports[0].partial, true); // the rows start on the 5th, the month on the 1st
  assert.equal(r.reports[1].partial, false);
  assert.deepEqual(r.reports[0].channels, []);
  assert.equal(r.reports[0].priority, null);
});

test('priority-set input: parsing and clear errors', () => {
  assert.deepEqual(parseChangeRequests({ id: 3, priority: 0 }), [{ ref: { id: 3 }, field: 'priority', value: 0 }]);
  // quota-check's change carries the priority it saw: used as the old value when no list is at hand
  assert.deepEqual(parseChangeRequests({ id: 3, priority: 0, old: 7 }), [{ ref: { id: 3 }, field: 'priority', value: 0, oldHint: 7 }]);
  assert.deepEqual(parseChangeRequests([{ name: 'x', enabled: false }, { id: '4', weight: 2 }]), [
    { ref: { name: 'x' }, field: 'status', value: 2 },
    { ref: { id: 4 }, field: 'weight', value: 2 },
  ]);
  assert.throws(() => parseChangeRequests('x'), /must be an object/);
  assert.throws(() => parseChangeRequests([]), /empty list/);
  assert.throws(() => parseChangeRequests({ priority: 1 }), /"id" or "name"/);
  assert.throws(() => parseChangeRequests({ id: 1 }), /nothing to change/);
  assert.throws(() => parseChangeRequests([{ id: 1, priority: 1 }, { id: 2, priority: 1.5 }]), /item 2: priority must be a whole number/);
  assert.throws(() => parseChangeRequests({ id: 1, enabled: 'yes' }), /true or false/);
});

function recordingTarget(list: KnownChannel[], failIds: Array<number | string> = []): ApplyTarget & { writes: string[]; maxActive: number } {
  let active = 0;
  const t = {
    kind: 'gateway' as const,
    writes: [] as string[],
    maxActive: 0,
    async list() {
      return list;
    },
    async write(ch: { id: number | string }, field: string, value: number, opts: { verify: boolean; old: number | null }) {
      active++;
      t.maxActive = Math.max(t.maxActive, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      if (failIds.includes(ch.id)) throw Object.assign(new Error('server unreachable'), { code: 'UNREACHABLE' });
      t.writes.push(`${ch.id}.${field}=${value}`);
      return { old: opts.old, dryRun: false, verified: opts.verify ? true : null };
    },
  };
  return t;
}

const LIST: KnownChannel[] = [
  { id: 1, name: 'volc-deepseek-v3-2', models: ['deepseek-v3-2-251201'], priority: 7, weight: 0, status: 1 },
  { id: 5, name: 'volc-kimi-k2', models: ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview'], priority: 0, weight: 0, status: 1 },
];

test('applyChanges: names and models resolve, bounded concurrency, per-item failures, order kept', async () => {
  const many = Array.from({ length: 12 }, (_, i) => ({ ref: { id: 100 + i }, field: 'priority' as const, value: 1 }));
  const more: KnownChannel[] = many.map((m) => ({ id: m.ref.id, name: String(m.ref.id), models: [], priority: 5, weight: 0, status: 1 }));
  const t = recordingTarget([...LIST, ...more], [105]);
  const out = await applyChanges(
    [{ ref: { name: 'VOLC-DEEPSEEK-V3-2' }, field: 'priority', value: 7 }, { ref: { name: 'kimi-k2-thinking-251104' }, field: 'priority', value: 3 }, { ref: { name: 'ghost' }, field: 'priority', value: 1 }, ...many],
    t,
    { concurrency: 3, verify: true },
  );
  assert.ok(t.maxActive <= 3 && t.maxActive >= 2, `max active ${t.maxActive}`);
  assert.deepEqual(out.results.slice(0, 2), [
    { id: 1, name: 'volc-deepseek-v3-2', field: 'priority', old: 7, new: 7, dryRun: false, verified: true },
    { id: 5, name: 'volc-kimi-k2', field: 'priority', old: 0, new: 3, dryRun: false, verified: true },
  ]);
  assert.equal(out.results.length, 13);
  assert.deepEqual(out.failures.map((f) => [f.id, f.name, f.error.code]), [
    [null, 'ghost', 'NOT_FOUND'],
    [105, '105', 'UNREACHABLE'],
  ]);
});

test('applyChanges dry run writes nothing and reports old -> new', async () => {
  const t = recordingTarget(LIST);
  const out = await applyChanges(parseChangeRequests({ id: 1, priority: 0 }), t, { dryRun: true, channels: LIST });
  assert.deepEqual(t.writes, []);
  assert.deepEqual(out.results, [{ id: 1, name: 'volc-deepseek-v3-2', field: 'priority', old: 7, new: 0, dryRun: true, verified: null }]);
});

test('local target: priorities, enable/disable and verification on the local table', async () => {
  const table = new LocalPriorityTable();
  table.register('nvidia-1', 'deepseek', 5);
  const out = await applyChanges(parseChangeRequests([{ id: 'nvidia-1/deepseek', priority: 0 }, { name: 'nvidia-1/deepseek', enabled: false }]), localTarget(table), { verify: true });
  assert.deepEqual(out.results.map((r) => [r.field, r.old, r.new, r.verified]), [
    ['priority', 5, 0, true],
    ['status', 1, 2, true],
  ]);
  assert.equal(table.allows('nvidia-1', 'deepseek'), false);
});

test('status: only enable (1) and disable (2) are written; 0, 3 and others fail for that item alone', async () => {
  assert.deepEqual(parseChangeRequests([{ id: 1, status: 2 }, { id: 5, status: '1' }]), [
    { ref: { id: 1 }, field: 'status', value: 2 },
    { ref: { id: 5 }, field: 'status', value: 1 },
  ]);
  assert.throws(() => parseChangeRequests({ id: 1, status: 'off' }), /status must be a whole number/);
  assert.throws(() => parseChangeRequests({ id: 1, status: 2, enabled: false }), /not both/);

  const t = recordingTarget(LIST);
  const out = await applyChanges(parseChangeRequests([{ id: 1, status: 0 }, { id: 5, status: 3 }, { id: 1, status: 2 }, { name: 'volc-kimi-k2', enabled: true }]), t, {
    channels: LIST,
  });
  assert.deepEqual(t.writes, ['1.status=2', '5.status=1']);
  assert.deepEqual(out.results.map((r) => [r.id, r.old, r.new]), [
    [1, 1, 2],
    [5, 1, 1],
  ]);
  assert.deepEqual(out.failures.map((f) => [f.id, f.value, f.error.code]), [
    [1, 0, 'BAD_REQUEST'],
    [5, 3, 'BAD_REQUEST'],
  ]);
  assert.match(out.failures[0].error.message, /status 0 cannot be set: use enabled true\/false, or status 1 \(enable\) \/ 2 \(disable\)/);

  // the same in dry run: nothing is reported as a status change to 0 or 3
  const dry = await applyChanges([{ ref: { id: 1 }, field: 'status', value: 3 }], recordingTarget(LIST), { dryRun: true, channels: LIST });
  assert.deepEqual(dry.results, []);
  assert.equal(dry.failures[0].error.code, 'BAD_REQUEST');
});

test('gateway and local targets refuse status values other than 1 and 2 instead of disabling', async () => {
  const calls: string[] = [];
  const client: PriorityClient = {
    async listChannels() {
      return [];
    },
    async updateChannel() {
      return [];
    },
    async setChannelEnabled(id, enabled) {
      calls.push(`${id}:${enabled}`);
      return { id, field: 'status', old: null, value: enabled ? 1 : 2, dryRun: false };
    },
  };
  const target = gatewayTarget(client);
  for (const value of [0, 3, -1]) {
    await assert.rejects(target.write({ id: 4, name: 'x' }, 'status', value, { verify: false, old: null }), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST');
  }
  assert.deepEqual(calls, [], 'no enable/disable request for 0, 3 or -1');
  await target.write({ id: 4, name: 'x' }, 'status', 2, { verify: false, old: null });
  await target.write({ id: 4, name: 'x' }, 'status', 1, { verify: false, old: null });
  assert.deepEqual(calls, ['4:false', '4:true']);

  const table = new LocalPriorityTable();
  table.register('nvidia-1', 'deepseek', 5);
  await assert.rejects(localTarget(table).write({ id: 'nvidia-1/deepseek', name: 'x' }, 'status', 0, { verify: false, old: null }), /status 0 cannot be set/);
  assert.equal(table.allows('nvidia-1', 'deepseek'), true, 'the local channel stays enabled');
});

test('gateway ids: old values come from the server list; an id the server does not have is not written', async () => {
  let lists = 0;
  const t = recordingTarget(LIST);
  const counting: ApplyTarget = { kind: 'gateway', list: async () => (lists++, LIST), write: t.write.bind(t) };
  const out = await applyChanges(parseChangeRequests([{ id: 1, priority: 0 }, { id: 999, priority: 0 }, { id: 5, weight: 3 }]), counting, {});
  assert.equal(lists, 1, 'the list is read once');
  assert.deepEqual(t.writes, ['1.priority=0', '5.weight=3'], 'nothing is sent for id 999');
  assert.deepEqual(out.results.map((r) => [r.id, r.field, r.old, r.new]), [
    [1, 'priority', 7, 0],
    [5, 'weight', 0, 3],
  ]);
  assert.deepEqual(out.failures.map((f) => [f.id, f.error.code]), [[999, 'NOT_FOUND']]);
  assert.match(out.failures[0].error.message, /no channel with id 999/);

  // msg.channels that knows every id: no extra read; a stale one (id missing) is refreshed
  lists = 0;
  await applyChanges(parseChangeRequests({ id: 1, priority: 3 }), counting, { channels: LIST });
  assert.equal(lists, 0);
  const stale = await applyChanges(parseChangeRequests({ id: 5, priority: 3 }), counting, { channels: [LIST[0]] });
  assert.equal(lists, 1);
  assert.deepEqual(stale.results.map((r) => [r.id, r.old]), [[5, 0]]);

  // the list cannot be read: the write still goes ahead, with the sender's old value
  const down: ApplyTarget = { kind: 'gateway', list: async () => Promise.reject(new Error('down')), write: t.write.bind(t) };
  const blind = await applyChanges(parseChangeRequests({ id: 1, priority: 2, old: 7 }), down, {});
  assert.deepEqual(blind.results.map((r) => [r.id, r.old, r.new]), [[1, 7, 2]]);
});
