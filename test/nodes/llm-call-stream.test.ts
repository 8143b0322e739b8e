/**
 * llm-call-with-fallback with `stream: true`, chunks as messages (no http in):
 * one message per text chunk then the final message; failover only before the
 * first byte; a stream cut after it started ends once on output 2; the account's
 * concurrency slot is held until the stream ends; usage reaches the ledger; a
 * close during a stream ends the message once and stops the upstream.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { defaultLedger } from '../../engine/ledger/usage-ledger';
import { helper, providerNode, callNode, buildFlow, collect, type Outcome } from '../support/llm-flow';
import { sleep, waitFor } from '../support/ports';

const KA = 'sk-stream-node-test-account-a';
const KB = 'sk-stream-node-test-account-b';
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({
    accounts: [
      { key: KA, name: 'A', latencyMs: 2, chunkDelayMs: 2 },
      { key: KB, name: 'B', latencyMs: 2, chunkDelayMs: 2 },
    ],
  });
});
afterEach(async () => {
  await helper.unload();
  sim.setFaults(KA, {});
  sim.setFaults(KB, {});
  sim.setLatency(KA, 2);
  sim.resetStats();
});
after(async () => {
  await sim.close();
  await helper.stopServer?.();
});

function flow(extraA: Record<string, unknown> = {}, call: Record<string, unknown> = {}) {
  return buildFlow(
    [
      { id: 'pa', name: 'Account-A', baseUrl: sim.url, apiKey: KA, ...extraA },
      { id: 'pb', name: 'Account-B', baseUrl: sim.url, apiKey: KB },
    ],
    [{ id: 'call', chain: [{ provider: 'pa', model: 'm1' }, { provider: 'pb', model: 'm2' }], retries: 0, ...call }],
  );
}

const streamReq = (content: string) => ({ messages: [{ role: 'user', content }], stream: true });

test('chunks go out on output 1 as they arrive, then one final message with the text, usage and msg.llm', async () => {
  defaultLedger.store.clear(0, Date.now() + 3600_000);
  const { flow: f, credentials } = flow();
  await helper.load([providerNode, callNode], f, credentials);
  const c = collect(['call']);
  const text = 'stream me this sentence in several small pieces please';
  helper.getNode('call').receive({ _msgid: 'orig-1', topic: 't', payload: streamReq(text) });
  await waitFor(() => c.outcomes.some((o) => o.msg.stream?.done === true), 5000, 5, 'the final message');
  const outs = c.outcomes;
  const parts = outs.filter((o) => o.msg.stream?.done === false);
  const final = outs.filter((o) => o.msg.stream?.done === true);
  assert.equal(final.length, 1);
  assert.equal(outs.at(-1), final[0], 'the final message comes last');
  assert.ok(parts.length >= 5, `${parts.length} chunk messages`);
  assert.ok(parts.every((o) => o.where === 'out1' && typeof o.msg.payload === 'string' && o.msg.payload.length > 0));
  assert.deepEqual(parts.map((o) => o.msg.stream.index), parts.map((_, i) => i));
  assert.ok(parts.every((o) => o.msg.stream.id === 'orig-1' && o.msg._msgid !== 'orig-1' && o.msg.topic === 't'));
  assert.ok(parts.every((o) => o.msg.chunk?.object === 'chat.completion.chunk' && o.msg.llm.streaming === true && o.msg.llm.provider === 'Account-A'));
  const expected = `[A/m1] ${text}`;
  assert.equal(parts.map((o) => o.msg.payload).join(''), expected);
  const m = final[0].msg;
  assert.equal(final[0].where, 'out1');
  assert.equal(m._msgid, 'orig-1');
  assert.equal(m.payload, expected);
  assert.equal(m.response.object, 'chat.completion');
  assert.equal(m.response.choices[0].message.content, expected);
  assert.equal(m.response.choices[0].finish_reason, 'stop');
  assert.equal(m.llm.provider, 'Account-A');
  assert.equal(m.llm.stream.ok, true);
  assert.equal(m.llm.stream.chunks >= parts.length, true);
  assert.ok(m.llm.usage.promptTokens > 0 && m.llm.usage.completionTokens > 0, JSON.stringify(m.llm.usage));
  assert.equal(m.llm.usage.totalTokens, m.llm.usage.promptTokens + m.llm.usage.completionTokens);
  const rows = await defaultLedger.rows(Date.now() - 3600_000, Date.now() + 3600_000, 'UTC');
  const row = rows.find((r) => r.model === 'm1');
  assert.equal(row?.requests, 1);
  assert.equal(row?.totalTokens, m.llm.usage.totalTokens, 'the final usage chunk is recorded in the ledger');
  assert.equal(sim.stats(KA).requests, 1);
});

test('a candidate failing before its first chunk is skipped: the stream comes from the next one', async () => {
  sim.setFaults(KA, { error5xx: 1 });
  const { flow: f, credentials } = flow();
  await helper.load([providerNode, callNode], f, credentials);
  const c = collect(['call']);
  helper.getNode('call').receive({ payload: streamReq('fail over please') });
  await waitFor(() => c.outcomes.some((o) => o.msg.stream?.done === true), 5000, 5, 'the final message');
  assert.ok(c.outcomes.every((o) => o.where === 'out1' && o.msg.llm.provider === 'Account-B'));
  const final = c.outcomes.at(-1) as Outcome;
  assert.equal(final.msg.payload, '[B/m2] fail over please');
  assert.deepEqual(final.msg.llm.attempts.map((a: any) => [a.provider, a.outcome, a.code ?? '']), [
    ['Account-A', 'error', 'server_error'],
    ['Account-B', 'ok', ''],
  ]);
  // an {"error": ...} event or a stream that ends before its first chunk fails over the same way
  sim.setFaults(KA, { errorBody: 1 });
  helper.getNode('call').receive({ payload: streamReq('error event first') });
  await waitFor(() => c.outcomes.filter((o) => o.msg.stream?.done === true).length === 2, 5000, 5, 'the second final message');
  assert.equal(c.outcomes.at(-1)?.msg.payload, '[B/m2] error event first');
});

test('a stream cut after its first chunk is not failed over: exactly one outcome, on output 2, with the partial text', async () => {
  sim.setFaults(KA, { cutStream: 1 });
  const { flow: f, credentials } = flow();
  await helper.load([providerNode, callNode], f, credentials);
  const c = collect(['call']);
  helper.getNode('call').receive({ _msgid: 'cut-1', payload: streamReq('this stream is going to break off in the middle of it') });
  await waitFor(() => c.outcomes.some((o) => o.where !== 'out1'), 5000, 5, 'the outcome');
  await sleep(50);
  const ends = c.outcomes.filter((o) => o.where !== 'out1' || o.msg.stream?.done === true);
  assert.equal(ends.length, 1, 'one outcome');
  const e = ends[0];
  assert.equal(e.where, 'out2');
  assert.equal(e.msg._msgid, 'cut-1');
  assert.equal(e.msg.error.code, 'stream_interrupted');
  const partial = c.outcomes.filter((o) => o.where === 'out1').map((o) => o.msg.payload).join('');
  assert.ok(partial.length > 0);
  assert.equal(e.msg.error.partial, partial);
  assert.equal(sim.stats(KB).requests, 0, 'no failover once bytes went out');
});

test('the concurrency slot is held until the stream ends', async () => {
  sim.setLatency(KA, 0);
  const { flow: f, credentials } = flow({ maxConcurrent: 1 }, { chain: [{ provider: 'pa', model: 'm1' }] });
  await helper.load([providerNode, callNode], f, credentials);
  const c = collect(['call']);
  const node = helper.getNode('call');
  const long = 'a fairly long answer that streams in many separate pieces so it takes a while';
  node.receive({ _msgid: 's1', payload: streamReq(`first ${long}`) });
  node.receive({ _msgid: 's2', payload: streamReq(`second ${long}`) });
  await waitFor(() => c.outcomes.filter((o) => o.msg.stream?.done === true).length === 2, 8000, 5, 'both streams');
  const seq = c.outcomes.map((o) => `${o.msg.stream.id}:${o.msg.stream.done ? 'end' : 'part'}`);
  const end1 = seq.indexOf('s1:end');
  const firstOf2 = seq.indexOf('s2:part');
  assert.ok(end1 >= 0 && firstOf2 > end1, 'the second stream starts only after the first ended');
  assert.equal(sim.stats(KA).maxConcurrentSeen, 1);
  assert.equal(sim.stats(KA).concurrencyViolations, 0);
});

test('stopping the flow during a stream ends the message once with an error and stops the upstream stream', async () => {
  // a slow stream: 200 ms between chunks
  const slow = await startProviderSimulator({ accounts: [{ key: KA, name: 'A', chunkDelayMs: 200 }] });
  try {
    const { flow: f, credentials } = buildFlow([{ id: 'pa', name: 'Account-A', baseUrl: slow.url, apiKey: KA }], [{ id: 'call', chain: [{ provider: 'pa', model: 'm1' }] }]);
    await helper.load([providerNode, callNode], f, credentials);
    const node = helper.getNode('call');
    // keep our own record: the helper's spies are removed on unload
    const errs: unknown[][] = [];
    const orig = node.error;
    node.error = function (this: unknown, ...args: unknown[]) {
      errs.push(args);
      return orig.apply(this, args);
    };
    const c = collect(['call']);
    node.receive({ _msgid: 'long-1', payload: streamReq('a slow stream that the redeploy interrupts in the middle') });
    await waitFor(() => c.outcomes.length >= 1, 3000, 5, 'the first chunk');
    assert.equal(slow.inFlight(KA), 1);
    await helper.unload();
    await waitFor(() => slow.inFlight(KA) === 0, 2000, 5, 'the upstream stream to stop');
    await sleep(30);
    const mine = errs.filter((a: any[]) => a[1]?._msgid === 'long-1');
    assert.equal(mine.length, 1, 'one error for the message');
    assert.match(String((mine[0][0] as Error)?.message ?? mine[0][0]), /stopped or redeployed|errors\.closed/);
    assert.ok(c.outcomes.every((o) => o.msg.stream?.done === false), 'no final message after close');
  } finally {
    await slow.close();
  }
});
