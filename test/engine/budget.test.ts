import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetTracker, type BudgetAlert } from '../../engine/costs';
import { CandidatePlanner, type Candidate } from '../../engine/strategies';

function clock(start: number) {
  const c = { t: start, now: () => c.t, set: (t: number) => { c.t = t; }, advance: (ms: number) => { c.t += ms; } };
  return c;
}

const pricey: Candidate = { key: 'nv1/big', provider: 'nv1', model: 'big', priceIn: 10, priceOut: 30 };
const cheap: Candidate = { key: 'hy/small', provider: 'hy', model: 'small', priceIn: 1, priceOut: 2 };
const free: Candidate = { key: 'ds/free', provider: 'ds', model: 'free', priceIn: 0, priceOut: 0 };

// America/Los_Angeles in November is UTC-8: local midnight of 2026-11-21 is 08:00 UTC.
const LA_MIDNIGHT = Date.UTC(2026, 10, 21, 8, 0, 0);

test('daily budget in a non-UTC timezone: blocks paid candidates when reached and resets at local midnight, not UTC midnight', () => {
  const c = clock(Date.UTC(2026, 10, 20, 18, 0, 0)); // 10:00 local on the 20th
  const alerts: BudgetAlert[] = [];
  const b = new BudgetTracker({ dailyUsd: 1, timeZone: 'America/Los_Angeles', now: c.now, onAlert: (a) => alerts.push(a) });
  assert.equal(b.check(cheap, 0.01).allowed, true);
  b.record(0.5, { provider: 'hy' });
  assert.equal(alerts.length, 0);
  b.record(0.35, { provider: 'hy' }); // 85 %
  assert.deepEqual(alerts.map((a) => [a.scope, a.level]), [['daily', 'warn']]);
  assert.equal(alerts[0].day, '2026-11-20');
  assert.match(alerts[0].message, /daily budget at 85%: \$0\.85 of \$1\.00 spent/);
  b.record(0.05, { provider: 'hy' }); // still warn: no repeat
  assert.equal(alerts.length, 1);
  assert.equal(b.check(cheap, 0.2).allowed, false, 'estimate exceeds what is left');
  assert.match(b.check(cheap, 0.2).reason!, /estimated \$0\.20 exceeds the \$0\.10 left of the daily budget \$1\.00/);
  assert.equal(b.check(cheap, 0.05).allowed, true, 'a cheaper request still fits');
  b.record(0.2, { provider: 'hy' }); // $1.10: exhausted
  assert.deepEqual(alerts.map((a) => a.level), ['warn', 'exhausted']);
  b.record(0.2, { provider: 'hy' });
  assert.equal(alerts.length, 2, 'one alert per crossing');
  const d = b.check(cheap, 0);
  assert.equal(d.allowed, false);
  assert.match(d.reason!, /daily budget \$1\.00 reached \(\$1\.30 spent on 2026-11-20 \(America\/Los_Angeles\)\)/);
  assert.equal(b.check(free, 0.5).allowed, true, 'a free model is never blocked by a budget');

  c.set(Date.UTC(2026, 10, 21, 0, 30)); // UTC midnight passed; still the 20th in Los Angeles
  assert.equal(b.check(cheap, 0).allowed, false, 'UTC midnight does not reset a Los Angeles day');
  c.set(LA_MIDNIGHT - 1);
  assert.equal(b.check(cheap, 0).allowed, false);
  assert.equal(b.status().day, '2026-11-20');
  c.set(LA_MIDNIGHT);
  assert.equal(b.check(cheap, 0).allowed, true, 'new local day: budget available again');
  assert.equal(b.status().dailySpentUsd, 0);
  assert.equal(b.status().day, '2026-11-21');
  assert.deepEqual(alerts.map((a) => a.level), ['warn', 'exhausted', 'ok']);
  assert.match(alerts[2].message, /new day 2026-11-21 \(America\/Los_Angeles\)/);
  // the next day crosses again and alerts again
  b.record(1, {});
  assert.deepEqual(alerts.slice(3).map((a) => [a.level, a.day]), [['exhausted', '2026-11-21']]);
});

test('daily budget across a DST change: Europe/Berlin day after the switch to winter time', () => {
  // 2026-10-25: clocks go back at 03:00 CEST; the day is 25 hours long. Midnight of the 26th is 23:00 UTC on the 25th.
  const c = clock(Date.UTC(2026, 9, 25, 10, 0));
  const b = new BudgetTracker({ dailyUsd: 0.1, timeZone: 'Europe/Berlin', now: c.now });
  b.record(0.1);
  c.set(Date.UTC(2026, 9, 25, 22, 59, 59));
  assert.equal(b.check(cheap, 0).allowed, false);
  c.set(Date.UTC(2026, 9, 25, 23, 0, 0));
  assert.equal(b.check(cheap, 0).allowed, true);
});

test('planner downgrades to the next cheaper candidate as the budget runs out, then fails with a clear error', () => {
  const c = clock(Date.UTC(2026, 10, 20, 4, 0)); // 12:00 in Shanghai
  const alerts: BudgetAlert[] = [];
  const planner = new CandidatePlanner({
    strategy: 'fixed', now: c.now, onAlert: (a) => alerts.push(a),
    budget: { dailyUsd: 1, timeZone: 'Asia/Shanghai' },
  });
  const cs = [pricey, cheap];
  const est = { promptTokens: 2_000, completionTokens: 500 }; // pricey $0.035, cheap $0.003
  let p = planner.plan(cs, { estimatedTokens: est });
  assert.deepEqual(p.ordered.map((x) => x.key), ['nv1/big', 'hy/small']);
  assert.deepEqual(p.rejected, []);
  // spend through the facade from usage: 30k prompt + 20k completion on the big model = $0.90
  const eff = planner.onResult('nv1/big', { ok: true, latencyMs: 800, usage: { promptTokens: 30_000, completionTokens: 20_000 } });
  assert.ok(Math.abs(eff.usd! - 0.9) < 1e-12);
  assert.deepEqual(eff.alerts.map((a) => a.level), ['warn']);
  planner.onResult('nv1/big', { ok: true, latencyMs: 800, usd: 0.08 }); // $0.98 spent, $0.02 left
  p = planner.plan(cs, { estimatedTokens: est });
  assert.deepEqual(p.ordered.map((x) => x.key), ['hy/small'], 'downgraded to the cheaper candidate');
  assert.equal(p.rejected[0].key, 'nv1/big');
  assert.match(p.rejected[0].reason, /exceeds the \$0\.02 left/);
  assert.equal(p.error, undefined);
  planner.onResult('hy/small', { ok: true, latencyMs: 100, usd: 0.03 }); // $1.01: reached
  p = planner.plan(cs, { estimatedTokens: est });
  assert.deepEqual(p.ordered, []);
  assert.equal(p.error?.code, 'budget_exhausted');
  assert.match(p.error!.message, /^no candidate fits the budget: nv1\/big: daily budget \$1\.00 reached/);
  assert.deepEqual(alerts.map((a) => a.level), ['warn', 'exhausted']);
  // with a free candidate in the chain, requests go on for free
  p = planner.plan([pricey, cheap, free], { estimatedTokens: est });
  assert.deepEqual(p.ordered.map((x) => x.key), ['ds/free']);
  assert.equal(p.rejected.length, 2);
  // next day in Shanghai (16:00 UTC)
  c.set(Date.UTC(2026, 10, 20, 16, 0));
  p = planner.plan(cs, { estimatedTokens: est });
  assert.deepEqual(p.ordered.map((x) => x.key), ['nv1/big', 'hy/small']);
});

test('a free first choice never falls back to a paid candidate unless allowPaidFallback is set', () => {
  const c = clock(Date.UTC(2026, 10, 20, 4, 0));
  const strict = new CandidatePlanner({ now: c.now, budget: { dailyUsd: 10 } });
  let p = strict.plan([free, cheap, pricey]);
  assert.deepEqual(p.ordered.map((x) => x.key), ['ds/free']);
  assert.deepEqual(p.rejected.map((r) => r.key), ['hy/small', 'nv1/big']);
  assert.match(p.rejected[0].reason, /paid fallback after the free ds\/free is off \(allowPaidFallback\)/);
  const free2: Candidate = { ...free, key: 'ds2/free', provider: 'ds2' };
  p = strict.plan([free, cheap, free2]);
  assert.deepEqual(p.ordered.map((x) => x.key), ['ds/free', 'ds2/free'], 'free fallbacks stay');
  p = strict.plan([cheap, free]);
  assert.deepEqual(p.ordered.map((x) => x.key), ['hy/small', 'ds/free'], 'paid first may fall back to free');
  // an unknown price is not free: no leak rule, but it is still subject to the budget
  p = strict.plan([{ ...free, priceIn: undefined, priceOut: undefined }, cheap]);
  assert.equal(p.ordered.length, 2);

  const lenient = new CandidatePlanner({ now: c.now, budget: { dailyUsd: 10, allowPaidFallback: true } });
  assert.deepEqual(lenient.plan([free, cheap]).ordered.map((x) => x.key), ['ds/free', 'hy/small']);
  // without any budget configured there is no spend control at all
  assert.deepEqual(new CandidatePlanner().plan([free, cheap]).ordered.map((x) => x.key), ['ds/free', 'hy/small']);
});

test('session budgets: per session key, forgotten after the TTL since the last spend', () => {
  const c = clock(Date.UTC(2026, 10, 20, 4, 0));
  const alerts: BudgetAlert[] = [];
  const b = new BudgetTracker({ sessionUsd: 0.05, sessionTtlMs: 600_000, now: c.now, onAlert: (a) => alerts.push(a) });
  b.record(0.03, { session: 's1' });
  c.advance(300_000);
  b.record(0.03, { session: 's1' }); // $0.06, TTL restarts
  assert.deepEqual(alerts.map((a) => [a.scope, a.level, a.session]), [['session', 'exhausted', 's1']]);
  assert.equal(b.check(cheap, 0, { session: 's1' }).allowed, false);
  assert.match(b.check(cheap, 0, { session: 's1' }).reason!, /session budget \$0\.05 reached/);
  assert.equal(b.check(cheap, 0, { session: 's2' }).allowed, true, 'other sessions unaffected');
  assert.equal(b.check(cheap, 0).allowed, true, 'requests without a session unaffected');
  c.advance(599_999);
  assert.equal(b.check(cheap, 0, { session: 's1' }).allowed, false);
  c.advance(1);
  assert.equal(b.check(cheap, 0, { session: 's1' }).allowed, true, 'TTL ended: the session starts over');
  assert.equal(b.status('s1').session?.spentUsd, 0);
});

test('session budgets are bounded in memory', () => {
  const b = new BudgetTracker({ sessionUsd: 1, maxSessions: 100 });
  for (let i = 0; i < 1_000; i++) b.record(2, { session: `s${i}` });
  assert.equal(b.check(cheap, 0, { session: 's0' }).allowed, true, 'the oldest sessions were dropped');
  assert.equal(b.check(cheap, 0, { session: 's999' }).allowed, false);
});

test('provider daily budgets only block that provider', () => {
  const c = clock(Date.UTC(2026, 10, 20, 4, 0));
  const planner = new CandidatePlanner({ now: c.now, budget: { providerDailyUsd: { nv1: 0.5 } } });
  planner.plan([pricey]);
  planner.onResult('nv1/big', { ok: true, latencyMs: 5, usd: 0.5 });
  const p = planner.plan([pricey, cheap]);
  assert.deepEqual(p.ordered.map((x) => x.key), ['hy/small']);
  assert.match(p.rejected[0].reason, /daily budget of nv1 \$0\.50 reached/);
  const st = planner.budget!.status();
  assert.deepEqual(st.providers.find((x) => x.provider === 'nv1'), { provider: 'nv1', spentUsd: 0.5, limitUsd: 0.5, level: 'exhausted' });
});

test('budget configuration errors are clear', () => {
  assert.throws(() => new BudgetTracker({ timeZone: 'Mars/Olympus' }), /unknown timezone "Mars\/Olympus"/);
  assert.throws(() => new BudgetTracker({ dailyUsd: -1 }), /dailyUsd must be a number >= 0/);
  assert.throws(() => new BudgetTracker({ providerDailyUsd: { a: Number.NaN } }), /providerDailyUsd\["a"\]/);
  assert.throws(() => new BudgetTracker({ warnRatio: 2 }), /warnRatio/);
});

test('a throwing alert listener does not break recording', () => {
  const b = new BudgetTracker({ dailyUsd: 1, onAlert: () => { throw new Error('listener broke'); } });
  const alerts = b.record(2);
  assert.deepEqual(alerts.map((a) => a.level), ['exhausted']);
  assert.equal(b.status().dailySpentUsd, 2);
});
