/**
 * USD budgets through the executor and the planner hooks, with the planner's
 * clock under test control: a daily budget in Asia/Shanghai downgrades to the
 * free candidate once spent and is available again after local midnight (while
 * the UTC day has not changed); per-session budgets; no paid fallback after a
 * free first choice unless allowed; alerts once per level; the cost is recorded
 * in the ledger.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackExecutor, type ExecOutcome } from '../../engine/fallback';
import { ProviderAccount, ProviderRegistry, type ChatCompletion } from '../../engine/providers';
import { UsageLedger } from '../../engine/ledger/usage-ledger';
import { CandidatePlanner, plannerHooks, type PlanningMeta } from '../../engine/strategies';
import type { BudgetAlert, BudgetConfig } from '../../engine/costs/budget';
import { completion, startUpstream, type UpstreamReply, type UpstreamRequest } from '../support/llm-upstream';

const KEY = 'sk-budget-executor-test-key';
// 5 prompt + 300 completion tokens per answer; at $100 / 1M tokens both ways = $0.0305
const USAGE = { prompt_tokens: 5, completion_tokens: 300, total_tokens: 305 };
const COST = 0.0305;
const answer = (name: string) => (r: UpstreamRequest): UpstreamReply => ({ body: completion(`[${name}] ${r.body.messages.at(-1).content}`, r.body.model, USAGE) });

async function setup(budget: BudgetConfig, scripts: { paid?: (r: UpstreamRequest) => UpstreamReply; free?: (r: UpstreamRequest) => UpstreamReply } = {}) {
  const reg = new ProviderRegistry();
  const paidUp = await startUpstream(scripts.paid ?? answer('paid'));
  const freeUp = await startUpstream(scripts.free ?? answer('free'));
  const paid = new ProviderAccount({ id: 'p', name: 'Paid', baseUrl: paidUp.url, apiKey: KEY });
  const free = new ProviderAccount({ id: 'f', name: 'Free', baseUrl: freeUp.url, apiKey: KEY });
  reg.register(paid);
  reg.register(free);
  // 23:58 in Shanghai on 20 Nov 2026 (15:58 UTC)
  let t = Date.UTC(2026, 10, 20, 15, 58, 0);
  const alerts: BudgetAlert[] = [];
  const planner = new CandidatePlanner({ budget, now: () => t, affinity: false, onAlert: (a) => alerts.push(a) });
  const ledger = new UsageLedger();
  const ex = new FallbackExecutor({ registry: reg, priorities: null, ledger, retries: 0, hooks: plannerHooks<ChatCompletion>(planner) });
  const PAID = { provider: 'Paid', model: 'big', priceIn: 100, priceOut: 100 };
  const FREE = { provider: 'Free', model: 'small', priceIn: 0, priceOut: 0 };
  return {
    alerts,
    ledger,
    planner,
    paidUp,
    PAID,
    FREE,
    advance(ms: number) {
      t += ms;
    },
    run(route: unknown[], session?: string): Promise<ExecOutcome & { meta: PlanningMeta }> {
      const meta: Record<string, unknown> = session ? { session } : {};
      return ex
        .execute({ body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, route: route as never, meta })
        .then((o) => Object.assign(o, { meta: meta as PlanningMeta }));
    },
    async close() {
      await ex.close();
      await paid.close();
      await free.close();
      await paidUp.close();
      await freeUp.close();
    },
  };
}

test('the daily budget downgrades to the free candidate once spent, and is available again after midnight in its timezone', async (t) => {
  const e = await setup({ dailyUsd: 0.03, timeZone: 'Asia/Shanghai' });
  t.after(() => e.close());
  const first = await e.run([e.PAID, e.FREE]);
  assert.equal(first.ok && first.provider, 'Paid');
  assert.equal(first.ok && first.usd, COST);
  assert.equal(first.meta.cost, COST, 'the spend recorded against the budget');
  assert.deepEqual(e.alerts.map((a) => [a.scope, a.level]), [['daily', 'exhausted']]);
  assert.match(e.alerts[0].message, /daily budget \$0\.03 reached/);

  for (let i = 0; i < 3; i++) {
    const down = await e.run([e.PAID, e.FREE]);
    assert.equal(down.ok && down.provider, 'Free', 'downgraded to the cheaper candidate');
    assert.equal(down.ok && down.usd, 0);
    assert.match(down.meta.plan?.rejected[0].reason ?? '', /daily budget \$0\.03 reached \(\$0\.03 spent on 2026-11-20 \(Asia\/Shanghai\)\)/);
  }
  assert.equal(e.paidUp.requests.length, 1, 'the paid account got nothing more');
  assert.equal(e.alerts.length, 1, 'alerted once');
  // only paid candidates: the request fails with budget_exhausted, nothing is sent
  const none = await e.run([e.PAID]);
  assert.equal(none.ok, false);
  assert.equal(!none.ok && none.code, 'budget_exhausted');
  assert.match(!none.ok ? none.detail : '', /Paid\/big: daily budget/);
  assert.equal(e.paidUp.requests.length, 1);

  // 00:00:30 in Shanghai, still 20 Nov in UTC: a new budget day
  e.advance(2.5 * 60_000);
  const next = await e.run([e.PAID, e.FREE]);
  assert.equal(next.ok && next.provider, 'Paid', 'the budget reset at local midnight');
  assert.deepEqual(e.alerts.slice(1).map((a) => [a.level, a.day]), [
    ['ok', '2026-11-21'],
    ['exhausted', '2026-11-21'],
  ]);
  await new Promise((r) => setTimeout(r, 10));
  const rows = await e.ledger.rows(Date.UTC(2026, 10, 19), Date.UTC(2026, 10, 23), 'UTC');
  const big = rows.filter((r) => r.model === 'big');
  assert.ok(big.length > 0);
  const usd = big.reduce((s, r) => s + r.usd, 0);
  assert.ok(Math.abs(usd - 2 * COST) < 1e-12, `the ledger holds the cost of the paid answers: ${usd}`);
});

test('a session budget stops one session from spending more while others may', async (t) => {
  const e = await setup({ sessionUsd: 0.02, timeZone: 'UTC' });
  t.after(() => e.close());
  assert.equal((await e.run([e.PAID, e.FREE], 's1')).ok, true);
  const s1 = await e.run([e.PAID, e.FREE], 's1');
  assert.equal(s1.ok && s1.provider, 'Free');
  assert.match(s1.meta.plan?.rejected[0].reason ?? '', /session budget/);
  const s2 = await e.run([e.PAID, e.FREE], 's2');
  assert.equal(s2.ok && s2.provider, 'Paid');
  assert.deepEqual(e.alerts.map((a) => [a.scope, a.level, a.session]), [
    ['session', 'exhausted', 's1'],
    ['session', 'exhausted', 's2'],
  ]);
});

test('a free first choice never falls back to a paid candidate unless allowPaidFallback', async (t) => {
  const down = () => ({ status: 503, body: { error: { message: 'down' } } });
  const strict = await setup({ dailyUsd: 10 }, { free: down });
  t.after(() => strict.close());
  const out = await strict.run([strict.FREE, strict.PAID]);
  assert.equal(out.ok, false);
  assert.equal(!out.ok && out.code, 'all_candidates_failed');
  assert.equal(strict.paidUp.requests.length, 0, 'no paid request');
  assert.match(out.meta.plan?.rejected[0].reason ?? '', /allowPaidFallback/);
  const lenient = await setup({ dailyUsd: 10, allowPaidFallback: true }, { free: down });
  t.after(() => lenient.close());
  const ok = await lenient.run([lenient.FREE, lenient.PAID]);
  assert.equal(ok.ok && ok.provider, 'Paid');
});

test('without route prices, the cost comes from the llm-provider model prices', async (t) => {
  const up = await startUpstream(answer('priced'));
  const reg = new ProviderRegistry();
  const acc = new ProviderAccount({ id: 'pp', name: 'Priced', baseUrl: up.url, apiKey: KEY, models: [{ name: 'm', priceIn: 2, priceOut: 8 }] });
  reg.register(acc);
  const ledger = new UsageLedger();
  const ex = new FallbackExecutor({ registry: reg, priorities: null, ledger });
  t.after(async () => {
    await ex.close();
    await acc.close();
    await up.close();
  });
  const o = await ex.execute({ body: { messages: [{ role: 'user', content: 'hi' }] }, route: [{ provider: 'Priced', model: 'm' }] });
  assert.equal(o.ok && o.usd, (5 * 2 + 300 * 8) / 1e6);
  const otherCase = await ex.execute({ body: { messages: [{ role: 'user', content: 'hi' }] }, route: [{ provider: 'Priced', model: 'M' }] });
  assert.equal(otherCase.ok && otherCase.usd, (5 * 2 + 300 * 8) / 1e6, 'model names match case-insensitively');
});
