import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProviderAccount, ProviderRegistry } from '../../engine/providers';
import { completion, startUpstream } from '../support/llm-upstream';
import { sleep, waitFor } from '../support/ports';

const KEY = 'sk-test-provider-key-0001';
const body = { messages: [{ role: 'user', content: 'hi' }] };

test('an attempt sends the key, maps the model name and returns the completion', async (t) => {
  const up = await startUpstream((r) => ({ body: completion(`answer from ${r.body.model}`, r.body.model) }));
  const acc = new ProviderAccount({ id: 'p1', name: 'Acc', baseUrl: `${up.url}/`, apiKey: KEY, models: [{ name: 'fast', upstream: 'vendor/fast-v2' }] });
  t.after(async () => {
    await acc.close();
    await up.close();
  });
  const r = await acc.attempt('fast', { body });
  assert.equal(r.kind, 'ok');
  if (r.kind === 'ok') assert.equal(r.value.choices[0].message.content, 'answer from vendor/fast-v2');
  assert.equal(up.requests[0].url, '/v1/chat/completions');
  assert.equal(up.requests[0].headers.authorization, `Bearer ${KEY}`);
  assert.equal(up.requests[0].body.model, 'vendor/fast-v2');
  const other = await acc.attempt('unknown-model', { body });
  assert.deepEqual(other, { kind: 'skipped', reason: 'model_not_served' });
  assert.equal(up.requests.length, 1, 'a model the account does not serve is never sent');
});

test('a 429 pauses the account for Retry-After: nothing reaches it before', async (t) => {
  let first = true;
  const up = await startUpstream(() => {
    if (first) {
      first = false;
      return { status: 429, headers: { 'retry-after-ms': '150' }, body: { error: { message: 'rate limited' } } };
    }
    return { body: completion('ok') };
  });
  const acc = new ProviderAccount({ id: 'p2', baseUrl: up.url, apiKey: KEY });
  t.after(async () => {
    await acc.close();
    await up.close();
  });
  const r1 = await acc.attempt('m', { body });
  assert.equal(r1.kind, 'error');
  if (r1.kind === 'error') {
    assert.equal(r1.error.code, 'rate_limited');
    assert.equal(r1.error.retryAfterMs, 150);
  }
  const t429 = up.requests[0].at;
  const r2 = await acc.attempt('m', { body });
  assert.deepEqual(r2, { kind: 'skipped', reason: 'paused' });
  assert.equal(acc.availability('m'), 'paused');
  await waitFor(async () => (await acc.attempt('m', { body })).kind === 'ok', 2000, 10, 'the pause to end');
  assert.equal(up.requests.length, 2);
  assert.ok(up.requests[1].at - t429 >= 145, `second request ${Math.round(up.requests[1].at - t429)} ms after the 429`);
});

test('the breaker opens after N consecutive failures, half-opens, and closes on success', async (t) => {
  let fail = true;
  const up = await startUpstream(() => (fail ? { status: 503, body: { error: { message: 'overloaded' } } } : { body: completion('back') }));
  const acc = new ProviderAccount({ id: 'p3', baseUrl: up.url, apiKey: KEY, models: [{ name: 'm' }], breaker: { failureThreshold: 3, resetTimeoutMs: 120 } });
  const events: string[] = [];
  acc.onEvent((e) => {
    if (e.type === 'breaker') events.push(e.state);
  });
  t.after(async () => {
    await acc.close();
    await up.close();
  });
  for (let i = 0; i < 3; i++) {
    const r = await acc.attempt('m', { body });
    assert.equal(r.kind, 'error');
  }
  assert.equal(acc.breakerState('m'), 'open');
  assert.deepEqual(await acc.attempt('m', { body }), { kind: 'skipped', reason: 'breaker_open' });
  assert.equal(up.requests.length, 3, 'an open breaker sends nothing');
  await waitFor(() => acc.breakerState('m') === 'halfOpen', 2000, 10, 'half-open');
  fail = false;
  const probe = await acc.attempt('m', { body });
  assert.equal(probe.kind, 'ok');
  assert.equal(acc.breakerState('m'), 'closed');
  assert.deepEqual(events, ['open', 'halfOpen', 'closed']);
  const snap = acc.snapshot();
  assert.deepEqual(snap.breakers, [{ model: 'm', state: 'closed', failures: 0 }]);
});

test('invalid requests and 429s do not open the breaker', async (t) => {
  const up = await startUpstream((r) =>
    r.n % 2 ? { status: 400, body: { error: { message: 'bad', type: 'invalid_request_error' } } } : { status: 429, body: {} },
  );
  const acc = new ProviderAccount({ id: 'p4', baseUrl: up.url, apiKey: KEY, breaker: { failureThreshold: 2 }, defaultRetryAfterMs: 1 });
  t.after(async () => {
    await acc.close();
    await up.close();
  });
  for (let i = 0; i < 6; i++) {
    await acc.attempt('m', { body });
    await sleep(3);
  }
  assert.equal(acc.breakerState('m'), 'closed');
});

test('timeouts abort the request and keep the slot a moment; resets and malformed bodies are classified', async (t) => {
  const up = await startUpstream((r) => {
    const mode = r.body.messages[0].content;
    if (mode === 'hang') return { hang: true };
    if (mode === 'reset') return { reset: true };
    if (mode === 'malformed') return { body: '{"choices": [' };
    if (mode === 'errorbody') return { body: { error: { message: 'upstream broke' } } };
    return { body: completion('ok') };
  });
  const acc = new ProviderAccount({ id: 'p5', baseUrl: up.url, apiKey: KEY, timeoutMs: 60, abortGraceMs: 40, limits: { maxConcurrent: 1 } });
  t.after(async () => {
    await acc.close();
    await up.close();
  });
  const say = (content: string) => ({ body: { messages: [{ role: 'user', content }] } });
  const hang = await acc.attempt('m', say('hang'));
  assert.equal(hang.kind === 'error' && hang.error.code, 'timeout');
  assert.deepEqual(await acc.attempt('m', say('ok')), { kind: 'skipped', reason: 'capacity' }, 'the slot is held briefly after an abort');
  await waitFor(() => up.inFlight() === 0, 1000, 5, 'the server to see the abort');
  await sleep(50);
  const reset = await acc.attempt('m', say('reset'));
  assert.equal(reset.kind === 'error' && reset.error.code, 'connection_reset');
  const mal = await acc.attempt('m', say('malformed'));
  assert.equal(mal.kind === 'error' && mal.error.code, 'malformed_response');
  const eb = await acc.attempt('m', say('errorbody'));
  assert.equal(eb.kind === 'error' && eb.error.code, 'upstream_error');
  const ok = await acc.attempt('m', say('fine'));
  assert.equal(ok.kind, 'ok');
});

test('closing the account aborts requests in flight', async (t) => {
  const up = await startUpstream(() => ({ hang: true }));
  const acc = new ProviderAccount({ id: 'p6', baseUrl: up.url, apiKey: KEY });
  t.after(() => up.close());
  const p = acc.attempt('m', { body });
  await waitFor(() => up.requests.length === 1, 1000, 5, 'the request to arrive');
  await acc.close();
  const r = await p;
  assert.equal(r.kind === 'error' && r.error.code, 'aborted');
  assert.deepEqual(await acc.attempt('m', { body }), { kind: 'skipped', reason: 'closed' });
});

test('the health probe marks an account unhealthy and healthy again', async (t) => {
  let down = true;
  const up = await startUpstream(() => (down ? { status: 503, body: {} } : { body: { object: 'list', data: [] } }));
  const acc = new ProviderAccount({ id: 'p7', baseUrl: up.url, apiKey: KEY, healthProbe: { intervalMs: 30 } });
  t.after(async () => {
    await acc.close();
    await up.close();
  });
  await waitFor(() => acc.healthy === false, 2000, 5, 'unhealthy');
  assert.equal(acc.availability('m'), 'unhealthy');
  assert.deepEqual(await acc.attempt('m', { body }), { kind: 'skipped', reason: 'unhealthy' });
  down = false;
  await waitFor(() => acc.healthy === true, 2000, 5, 'healthy');
  assert.equal(acc.snapshot().healthy, true);
  assert.ok(up.requests.every((r) => r.url === '/v1/models'), 'probes use GET /models');
});

test('the registry finds accounts by id or name and resets breakers', async (t) => {
  const up = await startUpstream(() => ({ status: 500, body: {} }));
  const reg = new ProviderRegistry();
  const a = new ProviderAccount({ id: 'id-a', name: 'NVIDIA-1', baseUrl: up.url, apiKey: KEY, models: [{ name: 'm' }], breaker: { failureThreshold: 1, resetTimeoutMs: 60_000 } });
  const b = new ProviderAccount({ id: 'id-b', name: 'Hunyuan', baseUrl: up.url, apiKey: KEY, limits: { rpm: 40, maxConcurrent: 5 } });
  t.after(async () => {
    await a.close();
    await b.close();
    await up.close();
  });
  reg.register(a);
  reg.register(b);
  assert.equal(reg.get('id-a'), a);
  assert.equal(reg.get('NVIDIA-1'), a);
  assert.equal(reg.get('hunyuan'), b);
  assert.equal(reg.get('nope'), undefined);
  await a.attempt('m', { body });
  assert.equal(a.breakerState('m'), 'open');
  const snaps = reg.snapshots();
  assert.equal(snaps.length, 2);
  assert.equal(snaps[0].breakers[0].state, 'open');
  assert.equal(snaps[1].rpmLimit, 40);
  assert.equal(snaps[1].maxConcurrent, 5);
  assert.ok(!JSON.stringify(snaps).includes(KEY));
  assert.equal(reg.resetBreakers(), 1);
  assert.equal(a.breakerState('m'), 'closed');
  assert.equal(reg.unregister('id-a', b), false, 'only the registered instance can be removed');
  assert.equal(reg.unregister('id-a'), true);
  assert.equal(reg.get('NVIDIA-1'), undefined);
});

test('a bad base URL or a key in the URL is refused with a clear error', () => {
  assert.throws(() => new ProviderAccount({ id: 'x', baseUrl: 'ftp://host/v1' }), /http/);
  assert.throws(() => new ProviderAccount({ id: 'x', baseUrl: 'http://user:pass@host/v1' }), /credentials/);
  assert.throws(() => new ProviderAccount({ id: 'x', baseUrl: '' }), /required/);
});
