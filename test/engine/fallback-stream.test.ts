/**
 * Streaming through the executor (engine level): server-sent events in their
 * variants (CRLF, comments, event fields, no [DONE]), a server that ignores
 * stream:true, failures before the first chunk failing over, the deferred
 * usage reaching the ledger with the price, and OpenAI's error mapping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackExecutor, isChatStream, openAiError, streamingSend, type ChatStream, type ExecOutcome } from '../../engine/fallback';
import { ProviderAccount, ProviderRegistry } from '../../engine/providers';
import { UsageLedger } from '../../engine/ledger/usage-ledger';
import { completion, startUpstream, type UpstreamReply, type UpstreamRequest } from '../support/llm-upstream';

const KEY = 'sk-stream-engine-test-key-1';
const body = { messages: [{ role: 'user', content: 'hi' }] };

function sse(events: string[], eol = '\n'): UpstreamReply {
  return { headers: { 'content-type': 'text/event-stream' }, body: events.map((e) => `${e}${eol}${eol}`).join('') };
}

function chunk(content: string | null, extra: Record<string, unknown> = {}): string {
  const delta = content === null ? {} : { content };
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}`;
}

async function setup(scripts: Array<(r: UpstreamRequest) => UpstreamReply>, priced = false) {
  const reg = new ProviderRegistry();
  const ups = await Promise.all(scripts.map((s) => startUpstream(s)));
  const accounts = ups.map((u, i) => new ProviderAccount({ id: `s${i}`, name: `S${i}`, baseUrl: u.url, apiKey: KEY, limits: { maxConcurrent: 1 } }));
  for (const a of accounts) reg.register(a);
  const ledger = new UsageLedger();
  const ex = new FallbackExecutor<unknown>({
    registry: reg,
    priorities: null,
    ledger,
    retries: 0,
    backoffBaseMs: 1,
    ...(priced ? { priceOf: () => ({ inPerM: 1, outPerM: 2 }) } : {}),
  });
  return {
    ups,
    accounts,
    ledger,
    run: (): Promise<ExecOutcome<unknown>> =>
      ex.execute({ body, route: accounts.map((a) => ({ provider: a.name, model: 'm' })), send: streamingSend() as never }),
    async close() {
      await ex.close();
      for (const a of accounts) await a.close();
      for (const u of ups) await u.close();
    },
  };
}

async function drain(out: ExecOutcome<unknown>) {
  assert.equal(out.ok, true, out.ok ? '' : `${out.code}: ${out.detail}`);
  if (!out.ok) throw new Error('failed');
  assert.ok(isChatStream(out.response));
  const parts: string[] = [];
  const summary = await (out.response as ChatStream).consume((_c, delta) => {
    if (delta) parts.push(delta);
  });
  return { out, parts, summary };
}

test('SSE with CRLF, comments and event fields; the request asks for stream + include_usage; usage is charged when the stream ends', async (t) => {
  const e = await setup(
    [
      () =>
        sse(
          [
            ': keep-alive comment',
            chunk('', { choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
            chunk('Hel'),
            'event: message\n' + chunk('lo'),
            chunk(null, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
            `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } })}`,
            'data: [DONE]',
          ],
          '\r\n',
        ),
    ],
    true,
  );
  t.after(() => e.close());
  const { out, parts, summary } = await drain(await e.run());
  assert.equal(e.ups[0].requests[0].body.stream, true);
  assert.deepEqual(e.ups[0].requests[0].body.stream_options, { include_usage: true });
  assert.deepEqual(parts, ['Hel', 'lo']);
  assert.equal(summary.ok, true);
  assert.equal(summary.text, 'Hello');
  assert.equal(summary.finishReason, 'stop');
  assert.deepEqual(summary.usage, { promptTokens: 7, completionTokens: 2, totalTokens: 9 });
  assert.equal(summary.completion.choices[0].message.content, 'Hello');
  assert.equal(out.ok && out.usage, null, 'usage is not known at the first byte');
  const fin = out.ok ? await out.finalized : undefined;
  assert.deepEqual(fin?.usage, { promptTokens: 7, completionTokens: 2, totalTokens: 9 });
  assert.equal(fin?.usd, (7 * 1 + 2 * 2) / 1e6);
  assert.deepEqual(fin?.stream, { ok: true });
  await new Promise((r) => setTimeout(r, 10));
  const rows = await e.ledger.rows(Date.now() - 86_400_000, Date.now() + 86_400_000, 'UTC');
  assert.deepEqual(rows.map((r) => [r.requests, r.totalTokens, r.usd]), [[1, 9, (7 + 4) / 1e6]]);
  await new Promise((r) => setImmediate(r));
  assert.equal(e.accounts[0].limiter.counts().inFlight, 0, 'the slot is free once the stream is over');
});

test('a server that ignores stream:true (a JSON completion) is replayed as chunks; a stream without [DONE] ends ok after its finish_reason', async (t) => {
  const e = await setup([() => ({ body: completion('whole answer') })]);
  t.after(() => e.close());
  const { parts, summary } = await drain(await e.run());
  assert.deepEqual(parts, ['whole answer']);
  assert.equal(summary.ok, true);
  assert.deepEqual(summary.usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
  const e2 = await setup([() => sse([chunk('a'), chunk('b', { choices: [{ index: 0, delta: { content: 'b' }, finish_reason: 'length' }] })])]);
  t.after(() => e2.close());
  const r2 = await drain(await e2.run());
  assert.equal(r2.summary.ok, true);
  assert.equal(r2.summary.text, 'ab');
  assert.equal(r2.summary.finishReason, 'length');
});

test('failures before the first chunk fail over: HTTP 429, an error event, an empty stream, a non-JSON event', async (t) => {
  const bad: UpstreamReply[] = [
    { status: 429, headers: { 'retry-after-ms': '50' }, body: { error: { message: 'slow down' } } },
    sse([`data: ${JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } })}`]),
    sse(['data: [DONE]']),
    sse(['data: {not json']),
  ];
  for (const reply of bad) {
    const e = await setup([() => reply, () => sse([chunk('from the second'), 'data: [DONE]'])]);
    t.after(() => e.close());
    const { out, summary } = await drain(await e.run());
    assert.equal(summary.text, 'from the second');
    assert.equal(out.ok && out.provider, 'S1');
    assert.deepEqual(out.ok && out.attempts.map((a) => [a.provider, a.outcome]), [['S0', 'error'], ['S1', 'ok']], JSON.stringify(reply).slice(0, 80));
  }
});

test('a stream that breaks off after the first chunk: not ok, with the partial text; abort() ends it', async (t) => {
  const e = await setup([(r) => (r.n === 1 ? { headers: { 'content-type': 'text/event-stream' }, body: `${chunk('part')}\n\n${chunk('ial')}\n\n` } : { hang: true })]);
  t.after(() => e.close());
  const { summary, out } = await drain(await e.run());
  assert.equal(summary.ok, false);
  assert.equal(summary.text, 'partial');
  assert.equal(summary.error?.code, 'connection_reset');
  const fin = out.ok ? await out.finalized : undefined;
  assert.equal(fin?.stream?.ok, false);
});

test('OpenAI error mapping: status, type and code per failure', () => {
  const m = (code: string, status?: number) => {
    const e = openAiError(code, 'msg', status);
    return [e.status, e.body.error.type, e.body.error.code, e.retryAfterS ?? null];
  };
  assert.deepEqual(m('invalid_input'), [400, 'invalid_request_error', 'invalid_input', null]);
  assert.deepEqual(m('invalid_request', 413), [413, 'invalid_request_error', 'invalid_request', null]);
  assert.deepEqual(m('queue_full'), [429, 'rate_limit_error', 'queue_full', 1]);
  assert.deepEqual(m('queue_timeout'), [429, 'rate_limit_error', 'queue_timeout', 1]);
  assert.deepEqual(m('budget_exhausted'), [429, 'insufficient_quota', 'budget_exhausted', null]);
  assert.deepEqual(m('all_candidates_failed'), [503, 'server_error', 'all_candidates_failed', 5]);
  assert.deepEqual(m('all_breakers_open'), [503, 'server_error', 'all_breakers_open', 5]);
  assert.deepEqual(m('deadline_exceeded'), [504, 'timeout_error', 'deadline_exceeded', null]);
  assert.deepEqual(m('no_candidates'), [500, 'server_error', 'no_candidates', null]);
  assert.deepEqual(openAiError('x', 'the text').body, { error: { message: 'the text', type: 'server_error', code: 'x', param: null } });
});
