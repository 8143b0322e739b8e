/**
 * The planner hooks on a FallbackExecutor: what the planner is told about each
 * candidate (saturated = the limiter cannot start now, healthy:false = breaker
 * open), in-flight counts that always return to 0 (successes, failures, skips,
 * streams), the 'fixed' order left alone when nothing needs planning, route
 * weights reaching weighted round robin, and pins dropped when a breaker opens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackExecutor, streamingSend, type ChatStream, type ExecOutcome } from '../../engine/fallback';
import { ProviderAccount, ProviderRegistry } from '../../engine/providers';
import { CandidatePlanner, plannerHooks, type PlanningMeta, type PlannerConfig } from '../../engine/strategies';
import { completion, startUpstream, type Upstream, type UpstreamReply, type UpstreamRequest } from '../support/llm-upstream';
import { waitFor } from '../support/ports';

const KEY = 'sk-planner-hooks-test-key';
const ok = (name: string) => (r: UpstreamRequest): UpstreamReply => ({ body: completion(`[${name}]`, r.body.model) });

async function setup(cfg: PlannerConfig, scripts: Array<(r: UpstreamRequest) => UpstreamReply>, limits: Array<Record<string, unknown>> = []) {
  const reg = new ProviderRegistry();
  const ups: Upstream[] = [];
  const accounts: ProviderAccount[] = [];
  for (let i = 0; i < scripts.length; i++) {
    const up = await startUpstream(scripts[i]);
    ups.push(up);
    const a = new ProviderAccount({ id: `a${i}`, name: `A${i}`, baseUrl: up.url, apiKey: KEY, limits: limits[i] ?? {}, breaker: { failureThreshold: 2, resetTimeoutMs: 60_000 } });
    accounts.push(a);
    reg.register(a);
  }
  const planner = new CandidatePlanner(cfg);
  const hooks = plannerHooks<unknown>(planner);
  const ex = new FallbackExecutor<unknown>({ registry: reg, priorities: null, ledger: null, retries: 0, backoffBaseMs: 1, hooks });
  const route = accounts.map((a) => ({ provider: a.name, model: 'm' }));
  return {
    ups,
    accounts,
    planner,
    hooks,
    route,
    run(opts: { route?: unknown[]; session?: string; stream?: boolean; content?: string } = {}): Promise<ExecOutcome<unknown> & { meta: PlanningMeta }> {
      const meta: Record<string, unknown> = opts.session ? { session: opts.session } : {};
      return ex
        .execute({ body: { messages: [{ role: 'user', content: opts.content ?? 'x' }] }, route: (opts.route ?? route) as never, meta, ...(opts.stream ? { send: streamingSend() as never } : {}) })
        .then((o) => Object.assign(o, { meta: meta as PlanningMeta }));
    },
    async close() {
      await ex.close();
      for (const a of accounts) await a.close();
      for (const u of ups) await u.close();
    },
  };
}

test('fixed order with no session, budget or rules is left alone (no plan); with a session it is planned', async (t) => {
  const e = await setup({ strategy: 'fixed' }, [ok('0'), ok('1')]);
  t.after(() => e.close());
  const o = await e.run();
  assert.equal(o.ok && o.provider, 'A0');
  assert.equal(o.meta.plan, undefined);
  const s = await e.run({ session: 'x' });
  assert.ok(s.meta.plan);
  assert.deepEqual(s.meta.plan?.explain.map((x) => x.reason), ['position 1 in the configured order', 'position 2 in the configured order']);
});

test('a saturated account (limiter full) is planned after the idle one; a breaker-open one last', async (t) => {
  const e = await setup(
    { strategy: 'fixed', affinity: false, rules: { maxErrorRate: 0.99 } },
    [(r) => (r.body.messages[0].content === 'hold' ? { hang: true } : ok('0')(r)), ok('1'), () => ({ status: 500, body: {} })],
    [{ maxConcurrent: 1 }, {}, {}],
  );
  t.after(() => e.close());
  const hold = e.run({ route: [e.route[0]], content: 'hold' });
  await waitFor(() => e.ups[0].inFlight() === 1, 2000, 5, 'A0 busy');
  const o = await e.run();
  assert.equal(o.ok && o.provider, 'A1');
  assert.deepEqual(o.meta.plan?.ordered.map((c) => c.key), ['A1/m', 'A2/m', 'A0/m']);
  assert.match(o.meta.plan?.explain[2].reason ?? '', /^saturated/);
  assert.equal(o.ok && o.attempts.length, 1, 'the saturated account was not even tried');
  // open A2's breaker (2 failures), then it is planned last as unhealthy
  await e.run({ route: [e.route[2]] });
  await e.run({ route: [e.route[2]] });
  assert.equal(e.accounts[2].breakerState('m'), 'open');
  const u = await e.run();
  assert.deepEqual(u.meta.plan?.ordered.map((c) => c.key), ['A1/m', 'A0/m', 'A2/m']);
  assert.match(u.meta.plan?.explain[2].reason ?? '', /^unhealthy/);
  await e.accounts[0].close();
  await hold;
});

test('in-flight counts return to 0 after successes, failures, skips and streams', async (t) => {
  const sse = (): UpstreamReply => ({
    headers: { 'content-type': 'text/event-stream' },
    body: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`,
  });
  const e = await setup({ strategy: 'least-busy', affinity: false }, [() => ({ status: 500, body: {} }), (r) => (r.body.stream ? sse() : ok('1')(r))], [{}, { maxConcurrent: 1 }]);
  t.after(() => e.close());
  const outs = await Promise.all([e.run(), e.run(), e.run()]);
  assert.ok(outs.every((o) => o.ok || o.code === 'all_candidates_failed'));
  const s = await e.run({ route: [e.route[1]], stream: true });
  assert.equal(s.ok, true);
  assert.equal(e.planner.metrics.inFlight('A1/m'), 1, 'a stream is in flight until it is over');
  if (s.ok) await (s.response as ChatStream).consume(() => undefined);
  if (s.ok) await s.finalized;
  assert.equal(e.planner.metrics.inFlight('A0/m'), 0);
  assert.equal(e.planner.metrics.inFlight('A1/m'), 0);
  const snap = e.planner.snapshot('A0/m');
  assert.ok(snap.failures >= 1, 'failures were recorded');
});

test('route weights drive weighted round robin; a breaker opening drops the sessions pinned to it', async (t) => {
  const e = await setup({ strategy: 'weighted-round-robin' }, [ok('0'), ok('1')]);
  t.after(() => e.close());
  const route = [
    { provider: 'A0', model: 'm', weight: 1 },
    { provider: 'A1', model: 'm', weight: 2 },
  ];
  const picks: string[] = [];
  for (let i = 0; i < 6; i++) {
    const o = await e.run({ route });
    picks.push(o.ok ? o.provider : 'fail');
  }
  assert.deepEqual(picks.filter((p) => p === 'A1').length, 4);
  assert.deepEqual(picks.filter((p) => p === 'A0').length, 2);
  await e.run({ route, session: 's' });
  const pinned = e.planner.affinity?.get('s');
  assert.ok(pinned);
  e.hooks.onUnavailable(pinned as string);
  assert.equal(e.planner.affinity?.get('s'), undefined);
});

