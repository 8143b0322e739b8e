import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Schedule,
  MemoryStateStore,
  FileStateStore,
  compileSchedule,
  nextRuns,
  formatInZone,
  parseBaselines,
  baselinePayload,
  DEFAULT_BASELINES,
  clearLedgerDay,
  closeAllBreakers,
  type Clock,
  type TickInfo,
} from '../../engine/schedule';
import { UsageLedger } from '../../engine/ledger/usage-ledger';

/** A clock that only moves when told to, running due timers in order. */
class FakeClock implements Clock {
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private seq = 0;
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  pending(): number {
    return this.timers.length;
  }
  advanceTo(target: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = target;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

test('invalid cron or timezone: clear errors', () => {
  assert.throws(() => compileSchedule('61 2 * * *', 'UTC'), /invalid cron expression "61 2 \* \* \*".*minute/);
  assert.throws(() => compileSchedule('', 'UTC'), /empty/);
  assert.throws(() => compileSchedule('20 2 * * *', 'Mars/Base'), /unknown timezone "Mars\/Base"/);
  assert.throws(() => new Schedule({ cron: 'every day', timezone: 'UTC', onTick: () => {} }), /invalid cron/);
});

test('next runs across the Berlin spring-forward gap and the repeated fall-back hour', () => {
  // 2026-03-29 02:00 CET -> 03:00 CEST: 02:20 and 02:30 do not exist that day.
  assert.deepEqual(nextRuns('20 2 * * *', 'Europe/Berlin', Date.UTC(2026, 2, 27, 12), 3).map(iso), [
    '2026-03-28T01:20:00.000Z', // 02:20 CET
    '2026-03-29T01:00:00.000Z', // once, at 03:00 CEST, the first minute after the gap
    '2026-03-30T00:20:00.000Z', // 02:20 CEST
  ]);
  assert.deepEqual(nextRuns('30 2 * * *', 'Europe/Berlin', Date.UTC(2026, 2, 28, 12), 2).map(iso), ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
  // 2026-10-25 03:00 CEST -> 02:00 CET: 02:20 happens twice; the job runs once.
  assert.deepEqual(nextRuns('20 2 * * *', 'Europe/Berlin', Date.UTC(2026, 9, 24, 12), 3).map(iso), [
    '2026-10-25T00:20:00.000Z', // first 02:20 (CEST)
    '2026-10-26T01:20:00.000Z', // 02:20 CET
    '2026-10-27T01:20:00.000Z',
  ]);
  assert.equal(formatInZone(Date.UTC(2026, 9, 26, 1, 20), 'Europe/Berlin'), '2026-10-26 02:20');
});

test('the timer fires once per day across both New York transitions (injected clock)', () => {
  const clock = new FakeClock(Date.UTC(2026, 2, 6, 12)); // 2026-03-06, before spring-forward (03-08)
  const ticks: TickInfo[] = [];
  const s = new Schedule({ cron: '20 2 * * *', timezone: 'America/New_York', clock, store: new MemoryStateStore(), onTick: (i) => ticks.push(i), maxTimerMs: 3600_000 });
  assert.equal(s.start(), null);
  assert.equal(iso(s.next()!), '2026-03-07T07:20:00.000Z');
  clock.advanceTo(Date.UTC(2026, 2, 10, 12));
  assert.deepEqual(ticks.map((t) => [iso(t.scheduled), t.kind]), [
    ['2026-03-07T07:20:00.000Z', 'scheduled'], // 02:20 EST
    ['2026-03-08T07:00:00.000Z', 'scheduled'], // gap day: once, 03:00 EDT
    ['2026-03-09T06:20:00.000Z', 'scheduled'], // 02:20 EDT
    ['2026-03-10T06:20:00.000Z', 'scheduled'],
  ]);
  s.stop();
  assert.equal(clock.pending(), 0);

  const fall = new FakeClock(Date.UTC(2026, 9, 31, 12)); // fall-back is 2026-11-01 02:00 EDT -> 01:00 EST
  const fallTicks: number[] = [];
  const f = new Schedule({ cron: '30 1 * * *', timezone: 'America/New_York', clock: fall, onTick: (i) => fallTicks.push(i.scheduled) });
  f.start();
  fall.advanceTo(Date.UTC(2026, 10, 2, 12));
  // 01:30 happens twice on 11-01 (05:30Z EDT and 06:30Z EST): one run only.
  assert.deepEqual(fallTicks.map(iso), ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  f.stop();
});

test('catch-up: a run missed during downtime fires once at start, after the delay', () => {
  const store = new MemoryStateStore();
  const clock = new FakeClock(Date.UTC(2026, 0, 10, 12));
  const ticks: TickInfo[] = [];
  const a = new Schedule({ cron: '20 2 * * *', timezone: 'UTC', clock, store, onTick: (i) => ticks.push(i) });
  assert.equal(a.start(), null); // first start ever: nothing to catch up
  clock.advanceTo(Date.UTC(2026, 0, 11, 3)); // runs 2026-01-11 02:20
  assert.equal(ticks.length, 1);
  a.stop(); // Node-RED goes down

  clock.t = Date.UTC(2026, 0, 14, 9); // three scheduled runs missed
  const b = new Schedule({ cron: '20 2 * * *', timezone: 'UTC', clock, store, onTick: (i) => ticks.push(i), catchUpDelayMs: 500 });
  assert.equal(iso(b.start()!), '2026-01-12T02:20:00.000Z');
  assert.equal(ticks.length, 1, 'waits for the flow to start');
  clock.advanceTo(clock.t + 600);
  assert.deepEqual(ticks.slice(1).map((t) => t.kind), ['catch-up']);
  assert.equal(iso(b.next()!), '2026-01-15T02:20:00.000Z');
  b.stop();

  // A restart without a missed run does not fire.
  clock.t = Date.UTC(2026, 0, 14, 10);
  const c = new Schedule({ cron: '20 2 * * *', timezone: 'UTC', clock, store, onTick: (i) => ticks.push(i), catchUpDelayMs: 0 });
  assert.equal(c.start(), null);
  clock.advanceTo(clock.t + 1000);
  assert.equal(ticks.length, 2);
  c.stop();

  // A changed schedule does not catch up on the old one's missed runs.
  clock.t = Date.UTC(2026, 0, 20, 10);
  const d = new Schedule({ cron: '0 3 * * *', timezone: 'UTC', clock, store, onTick: (i) => ticks.push(i) });
  assert.equal(d.start(), null);
  d.stop();
  // catchUp: false turns it off
  clock.t = Date.UTC(2026, 0, 25, 10);
  const e = new Schedule({ cron: '0 3 * * *', timezone: 'UTC', clock, store, onTick: (i) => ticks.push(i), catchUp: false });
  assert.equal(e.start(), null);
  e.stop();
});

test('the state file survives a restart; a manual run counts as the last run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sched-'));
  try {
    const clock = new FakeClock(Date.UTC(2026, 0, 10, 12));
    const store = new FileStateStore(dir, 'node.1');
    const ticks: TickInfo[] = [];
    const a = new Schedule({ cron: '20 2 * * *', timezone: 'UTC', clock, store, onTick: (i) => ticks.push(i) });
    a.start();
    clock.t = Date.UTC(2026, 0, 11, 8);
    a.runNow();
    assert.equal(ticks[0].kind, 'manual');
    a.stop();
    assert.equal(JSON.parse(fs.readFileSync(store.file, 'utf8')).lastRun, Date.UTC(2026, 0, 11, 8));
    // The manual run at 08:00 is the reference: after a restart the next day, 01-12 02:20 is the missed run.
    clock.t = Date.UTC(2026, 0, 12, 9);
    const b = new Schedule({ cron: '20 2 * * *', timezone: 'UTC', clock, store: new FileStateStore(dir, 'node.1'), onTick: (i) => ticks.push(i) });
    assert.equal(iso(b.start()!), '2026-01-12T02:20:00.000Z');
    b.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('baselines: defaults, parsing, priority-set payload', () => {
  assert.equal(DEFAULT_BASELINES.length, 6);
  assert.deepEqual(baselinePayload(DEFAULT_BASELINES)[0], { name: 'deepseek-v3-2-251201', priority: 7 });
  assert.deepEqual(parseBaselines([{ target: '12', priority: '3' }, { target: 'glm', priority: 0 }]), [
    { target: 12, priority: 3 },
    { target: 'glm', priority: 0 },
  ]);
  assert.deepEqual(baselinePayload(parseBaselines({ 12: 3 })), [{ id: 12, priority: 3 }]);
  assert.throws(() => parseBaselines([{ target: 'a', priority: 1.5 }]), /whole number/);
  assert.throws(() => parseBaselines([{ target: '', priority: 1 }]), /channel id, channel name or model/);
  assert.throws(() => parseBaselines([{ target: 'a', priority: 1 }, { target: 'A', priority: 2 }]), /twice/);
  assert.deepEqual(parseBaselines(''), []);
});

test('reset side effects: ledger day cleared in the timezone; breakers tolerated when absent', async () => {
  const ledger = new UsageLedger();
  const now = Date.UTC(2026, 0, 11, 1); // 09:00 in Shanghai on the 11th
  await ledger.record({ time: now - 3600_000, model: 'm', totalTokens: 5 }); // 08:00 Shanghai, same day
  await ledger.record({ time: now - 10 * 3600_000, model: 'm', totalTokens: 7 }); // 23:00 on the 10th
  const r = await clearLedgerDay(ledger, 'Asia/Shanghai', now);
  assert.equal(r.day, '2026-01-11');
  const left = await ledger.rows(now - 86400_000 * 2, now + 86400_000, 'Asia/Shanghai');
  assert.deepEqual(left.map((x) => [x.day, x.totalTokens]), [['2026-01-10', 7]]);
  assert.equal(closeAllBreakers(() => { throw new Error('Cannot find module'); }), null);
  assert.equal(closeAllBreakers(() => ({ providerRegistry: { resetBreakers: () => 3 } })), 3);
});
