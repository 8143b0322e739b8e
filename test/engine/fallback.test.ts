import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackExecutor, normalizeChatRequest, readPriority, readRoute, RequestInputError, type ExecOutcome, type ExecutorOptions } from '../../engine/fallback';
import { ProviderAccount, ProviderRegistry, type ChatCompletion, type ProviderAccountConfig } from '../../engine/providers';
import { LocalPriorityTable } from '../../engine/ledger/local-priorities';
import { UsageLedger } from '../../engine/ledger/usage-ledger';
import { completion, startUpstream, type Upstream, type UpstreamReply, type UpstreamRequest } from '../support/llm-upstream';
import { sleep, waitFor } from '../support/ports';

const KEY = 'sk-fallback-test-key-77';
const body = { messages: [{ role: 'user', content: 'hello' }] };

interface Env {
  reg: ProviderRegistry;
  ups: Upstream[];
  accounts: ProviderAccount[];
  priorities: LocalPriorityTable;
  ledger: UsageLedger;
  exec(opts?: ExecutorOptions): FallbackExecutor;
  close(): Promise<void>;
}

async function env(specs: Array<{ name: string; script: (r: UpstreamRequest) => UpstreamReply; cfg?: Partial<ProviderAccountConfig> }>): Promise<Env> {
  const reg = new ProviderRegistry();
  const ups: Upstream[] = [];
  const accounts: ProviderAccount[] = [];
  const executors: FallbackExecutor[] = [];
  for (const s of specs) {
    const up = await startUpstream(s.script);
    ups.push(up);
    const acc = new ProviderAccount({ id: `id-${s.name}`, name: s.name, baseUrl: up.url, apiKey: KEY, ...(s.cfg ?? {}) });
    accounts.push(acc);
    reg.register(acc);
  }
  const priorities = new LocalPriorityTable();
  const ledger = new UsageLedger();
  return {
    reg,
    ups,
    accounts,
    priorities,
    ledger,
    exec(opts = {}) {
      const e: FallbackExecutor = new FallbackExecutor({ registry: reg, priorities, ledger, backoffBaseMs: 5, backoffMaxMs: 20, random: () => 0.5, ...opts });
      executors.push(e);
      return e;
    },
    async close() {
      for (const e of executors) await e.close();
      for (const a of accounts) await a.close();
      for (const u of ups) await u.close();
    },
  };
}

const ok = (name: string) => (r: UpstreamRequest): UpstreamReply => ({ body: completion(`[${name}] ${r.body.model}`, r.body.model) });

function assertOk(o: ExecOutcome): asserts o is Extract<ExecOutcome, { ok: true }> {
  assert.equal(o.ok, true, o.ok ? '' : `${o.code}: ${o.detail}`);
}

test('the first healthy candidate answers; failures fall back to the next one', async (t) => {
  const e = await env([
    { name: 'A', script: () => ({ status: 500, body: { error: { message: 'boom' } } }) },
    { name: 'B', script: ok('B') },
  ]);
  t.after(() => e.close());
  const ex = e.exec({ retries: 0 });
  const out = await ex.execute({ body, route: [{ provider: 'A', model: 'x' }, { provider: 'id-B', model: 'y' }] });
  assertOk(out);
  assert.equal(out.text, '[B] y');
  assert.equal(out.provider, 'B');
  assert.equal(out.model, 'y');
  assert.deepEqual(
    out.attempts.map((a) => [a.provider, a.outcome, a.code ?? '']),
    [
      ['A', 'error', 'server_error'],
      ['B', 'ok', ''],
    ],
  );
  assert.deepEqual(out.usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
  const rows = await e.ledger.rows(Date.now() - 3600_000, Date.now() + 3600_000, 'UTC');
  assert.deepEqual(rows.map((r) => [r.model, r.requests, r.totalTokens]), [['y', 1, 8]]);
});

test('a single candidate is retried with backoff until it answers', async (t) => {
  const e = await env([{ name: 'A', script: (r) => (r.n <= 2 ? { reset: true } : { body: completion('third time') }) }]);
  t.after(() => e.close());
  const out = await e.exec({ retries: 2 }).execute({ body, route: [{ provider: 'A', model: 'x' }] });
  assertOk(out);
  assert.equal(out.text, 'third time');
  assert.deepEqual(out.attempts.map((a) => a.code ?? 'ok'), ['connection_reset', 'connection_reset', 'ok']);
});

test('retries stop after the limit and the request fails with a friendly emergency error', async (t) => {
  const e = await env([
    { name: 'A', script: () => ({ status: 502, body: {} }) },
    { name: 'B', script: () => ({ status: 503, body: {} }) },
  ]);
  t.after(() => e.close());
  const out = await e.exec({ retries: 1, friendlyMessage: 'Sorry, try later.' }).execute({ body, route: [{ provider: 'A', model: 'x' }, { provider: 'B', model: 'x' }] });
  assert.equal(out.ok, false);
  if (out.ok) return;
  assert.equal(out.code, 'all_candidates_failed');
  assert.equal(out.emergency, true);
  assert.equal(out.message, 'Sorry, try later.');
  assert.match(out.detail, /HTTP 503|HTTP 502/);
  assert.equal(out.attempts.filter((a) => a.outcome === 'error').length, 4);
  assert.equal(e.ups[0].requests.length + e.ups[1].requests.length, 4);
  assert.ok(!JSON.stringify(out).includes(KEY));
});

test('an invalid request fails fast: no other candidate is tried', async (t) => {
  const e = await env([
    { name: 'A', script: () => ({ status: 400, body: { error: { message: "'temperature' is invalid", type: 'invalid_request_error' } } }) },
    { name: 'B', script: ok('B') },
  ]);
  t.after(() => e.close());
  const out = await e.exec().execute({ body, route: [{ provider: 'A', model: 'x' }, { provider: 'B', model: 'x' }] });
  assert.equal(out.ok, false);
  if (out.ok) return;
  assert.equal(out.code, 'invalid_request');
  assert.equal(out.emergency, false);
  assert.equal(out.status, 400);
  assert.match(out.message, /temperature/);
  assert.equal(e.ups[1].requests.length, 0);
});

test('a context-length error moves to a candidate with a larger window; known-small ones are skipped', async (t) => {
  const ctxErr = (): UpstreamReply => ({ status: 400, body: { error: { message: 'maximum context length is 8192 tokens', code: 'context_length_exceeded' } } });
  const e = await env([
    { name: 'Small', script: ctxErr, cfg: { models: [{ name: 'm', contextWindow: 8192 }] } },
    { name: 'Smaller', script: ok('Smaller'), cfg: { models: [{ name: 'm', contextWindow: 4096 }] } },
    { name: 'Big', script: ok('Big'), cfg: { models: [{ name: 'm', contextWindow: 256_000 }] } },
  ]);
  t.after(() => e.close());
  const out = await e.exec().execute({
    body,
    route: ['Small', 'Smaller', 'Big'].map((p) => ({ provider: p, model: 'm' })),
  });
  assertOk(out);
  assert.equal(out.provider, 'Big');
  assert.equal(e.ups[1].requests.length, 0, 'the smaller window is never tried');
  // A prompt known to be too long for a window skips that candidate without a call.
  const long = { messages: [{ role: 'user', content: 'word '.repeat(40_000) }] };
  const out2 = await e.exec().execute({ body: long, route: ['Smaller', 'Big'].map((p) => ({ provider: p, model: 'm' })) });
  assertOk(out2);
  assert.equal(out2.provider, 'Big');
  assert.equal(out2.attempts[0].code, 'context_too_small');
  assert.equal(e.ups[1].requests.length, 0);
});

test('a full account spills over to the next candidate', async (t) => {
  const e = await env([
    { name: 'A', script: (r) => ({ delayMs: 60, body: completion(`A ${r.n}`) }), cfg: { limits: { maxConcurrent: 1 } } },
    { name: 'B', script: ok('B') },
  ]);
  t.after(() => e.close());
  const ex = e.exec();
  const route = [{ provider: 'A', model: 'm' }, { provider: 'B', model: 'm' }];
  const [o1, o2] = await Promise.all([ex.execute({ body, route }), ex.execute({ body, route })]);
  assertOk(o1);
  assertOk(o2);
  assert.equal(o1.provider, 'A');
  assert.equal(o2.provider, 'B');
  assert.equal(o2.attempts[0].code, 'capacity');
  assert.equal(e.ups[0].maxInFlight(), 1);
});

test('when every candidate is full, requests wait and run by priority as capacity frees', async (t) => {
  const e = await env([{ name: 'A', script: (r) => ({ delayMs: 30, body: completion(r.body.messages[0].content) }), cfg: { limits: { maxConcurrent: 1 } } }]);
  t.after(() => e.close());
  const ex = e.exec();
  const route = [{ provider: 'A', model: 'm' }];
  const say = (s: string) => ({ messages: [{ role: 'user', content: s }] });
  const order: string[] = [];
  const track = (p: Promise<ExecOutcome>) => p.then((o) => (o.ok ? order.push(o.text) : order.push(`fail:${o.code}`)));
  const first = track(ex.execute({ body: say('first'), route }));
  await sleep(5);
  const rest = [track(ex.execute({ body: say('low'), route, priority: -1 })), track(ex.execute({ body: say('normal'), route })), track(ex.execute({ body: say('high'), route, priority: 5 }))];
  await sleep(5);
  assert.equal(ex.stats().queued, 3);
  assert.equal(e.accounts[0].snapshot().queued, 3);
  await Promise.all([first, ...rest]);
  assert.deepEqual(order, ['first', 'high', 'normal', 'low']);
  assert.equal(e.ups[0].maxInFlight(), 1);
  assert.equal(ex.stats().queued, 0);
});

test('a bounded queue: overflow fails at once with queue_full; waiting too long fails with queue_timeout', async (t) => {
  const e = await env([{ name: 'A', script: () => ({ delayMs: 150, body: completion('x') }), cfg: { limits: { maxConcurrent: 1 } } }]);
  t.after(() => e.close());
  const ex = e.exec({ maxQueue: 2, queueTimeoutMs: 100 });
  const route = [{ provider: 'A', model: 'm' }];
  const first = ex.execute({ body, route });
  await sleep(5);
  const q1 = ex.execute({ body, route });
  const q2 = ex.execute({ body, route });
  const over = await ex.execute({ body, route });
  assert.equal(over.ok, false);
  assert.equal(!over.ok && over.code, 'queue_full');
  const [r1, r2] = await Promise.all([q1, q2]);
  assert.equal(!r1.ok && r1.code, 'queue_timeout');
  assert.equal(!r2.ok && r2.code, 'queue_timeout');
  assertOk(await first);
});

test('candidates with local priority 0 are skipped; fail-fast while every breaker is open', async (t) => {
  const e = await env([
    { name: 'A', script: ok('A') },
    { name: 'B', script: () => ({ status: 500, body: {} }), cfg: { breaker: { failureThreshold: 1, resetTimeoutMs: 60_000 } } },
  ]);
  t.after(() => e.close());
  e.priorities.setPriority('A/m', 0);
  const ex = e.exec({ retries: 0, failFastWhenAllOpen: true });
  const route = [{ provider: 'A', model: 'm' }, { provider: 'B', model: 'm' }];
  const out = await ex.execute({ body, route });
  assert.equal(out.ok, false);
  assert.equal(out.attempts[0].code, 'priority_zero');
  assert.equal(e.ups[0].requests.length, 0);
  assert.equal(e.accounts[1].breakerState('m'), 'open');
  const again = await ex.execute({ body, route: [{ provider: 'B', model: 'm' }] });
  assert.equal(!again.ok && again.code, 'all_breakers_open');
  assert.equal(!again.ok && again.emergency, true);
  assert.equal(e.ups[1].requests.length, 1, 'nothing is sent while the breaker is open');
  assert.equal(ex.stats().emergency, true);
  e.priorities.setPriority('A/m', 3);
  assertOk(await ex.execute({ body, route }));
  assert.equal(ex.stats().emergency, false, 'a success ends the emergency');
});

test('without fail-fast, a request waits for the half-open breaker and recovers', async (t) => {
  let down = true;
  const e = await env([{ name: 'A', script: () => (down ? { status: 503, body: {} } : { body: completion('recovered') }), cfg: { breaker: { failureThreshold: 1, resetTimeoutMs: 100 } } }]);
  t.after(() => e.close());
  const ex = e.exec({ retries: 0 });
  const route = [{ provider: 'A', model: 'm' }];
  assert.equal((await ex.execute({ body, route })).ok, false);
  const waiting = ex.execute({ body, route });
  await sleep(20);
  assert.equal(ex.stats().queued, 1);
  down = false;
  const out = await waiting;
  assertOk(out);
  assert.equal(out.text, 'recovered');
  assert.ok(out.queuedMs >= 50);
});

test('close(): queued and in-flight requests end once with code closed; nothing leaks', async (t) => {
  const e = await env([{ name: 'A', script: () => ({ hang: true }), cfg: { limits: { maxConcurrent: 1 } } }]);
  t.after(() => e.close());
  const ex = e.exec();
  const route = [{ provider: 'A', model: 'm' }];
  const outcomes: ExecOutcome[] = [];
  const ps = Array.from({ length: 5 }, () => ex.execute({ body, route }).then((o) => outcomes.push(o)));
  await waitFor(() => e.ups[0].requests.length === 1 && ex.stats().queued === 4, 2000, 5, 'one in flight, four queued');
  await ex.close();
  await Promise.all(ps);
  assert.equal(outcomes.length, 5);
  assert.ok(outcomes.every((o) => !o.ok && o.code === 'closed'));
  await waitFor(() => e.ups[0].inFlight() === 0, 1000, 5, 'the in-flight request to be aborted');
  const late = await ex.execute({ body, route });
  assert.equal(!late.ok && late.code, 'closed');
});

test('an aborted request signal ends the request', async (t) => {
  const e = await env([{ name: 'A', script: () => ({ hang: true }) }]);
  t.after(() => e.close());
  const ac = new AbortController();
  const p = e.exec().execute({ body, route: [{ provider: 'A', model: 'm' }], signal: ac.signal });
  await waitFor(() => e.ups[0].requests.length === 1, 1000, 5, 'request sent');
  ac.abort();
  const out = await p;
  assert.equal(!out.ok && out.code, 'closed');
});

test('unknown providers: skipped with a reason, or no_candidates when none is left', async (t) => {
  const e = await env([{ name: 'A', script: ok('A') }]);
  t.after(() => e.close());
  const ex = e.exec();
  const out = await ex.execute({ body, route: [{ provider: 'ghost', model: 'm' }, { provider: 'A', model: 'm' }] });
  assertOk(out);
  assert.equal(out.attempts[0].code, 'unknown_provider');
  const none = await ex.execute({ body, route: [{ provider: 'ghost', model: 'm' }] });
  assert.equal(!none.ok && none.code, 'no_candidates');
});

test('hooks: lookup answers without a call, order reorders, onAttempt sees every attempt', async (t) => {
  const e = await env([
    { name: 'A', script: ok('A') },
    { name: 'B', script: ok('B') },
  ]);
  t.after(() => e.close());
  const seen: string[] = [];
  const ex = e.exec({
    hooks: {
      lookup: (req) =>
        req.meta?.cached
          ? { ok: true, response: completion('from cache') as unknown as ChatCompletion, text: 'from cache', provider: 'cache', providerId: '', model: 'm', upstreamModel: 'm', attempts: [], latencyMs: 0, queuedMs: 0, usage: null, usd: 0, cached: true }
          : undefined,
      order: (c) => [...c].reverse(),
      onAttempt: (r) => seen.push(`${r.provider}:${r.outcome}`),
    },
  });
  const route = [{ provider: 'A', model: 'm' }, { provider: 'B', model: 'm' }];
  const hit = await ex.execute({ body, route, meta: { cached: true } });
  assertOk(hit);
  assert.equal(hit.cached, true);
  assert.equal(e.ups[0].requests.length + e.ups[1].requests.length, 0);
  const out = await ex.execute({ body, route });
  assertOk(out);
  assert.equal(out.provider, 'B');
  assert.deepEqual(seen, ['B:ok']);
});

test('msg.payload, msg.route and msg.priority are validated', () => {
  assert.deepEqual(normalizeChatRequest('hi').body, { messages: [{ role: 'user', content: 'hi' }] });
  const n = normalizeChatRequest({ messages: [{ role: 'user', content: 'x' }], stream: true, temperature: 0.2 });
  assert.equal(n.wantsStream, true);
  assert.equal(n.body.stream, undefined);
  assert.equal(n.body.temperature, 0.2);
  for (const bad of [undefined, null, 42, '', '   ', [], {}, { messages: [] }, { messages: 'x' }, { messages: [{ content: 'no role' }] }, { messages: [{ role: 'user', content: 5 }] }, { messages: [{ role: 'user', content: 'x' }], max_tokens: -1 }, Buffer.from('x')]) {
    assert.throws(() => normalizeChatRequest(bad), RequestInputError, JSON.stringify(bad));
  }
  assert.deepEqual(readRoute([{ provider: ' A ', model: 'm' }]), [{ provider: 'A', model: 'm' }]);
  assert.throws(() => readRoute('A'), /array/);
  assert.throws(() => readRoute([{ provider: 'A' }]), /model/);
  assert.equal(readPriority('high'), 10);
  assert.equal(readPriority(3), 3);
  assert.equal(readPriority('x'), 0);
});
