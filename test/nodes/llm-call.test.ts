import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { defaultLedger } from '../../engine/ledger/usage-ledger';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { helper, providerNode, callNode, buildFlow, collect } from '../support/llm-flow';
import { completion, startUpstream, type Upstream, type UpstreamReply, type UpstreamRequest } from '../support/llm-upstream';
import { sleep, waitFor } from '../support/ports';

const KEY_A = 'sk-node-test-key-AAAA-1111';
const KEY_B = 'sk-node-test-key-BBBB-2222';
let a: Upstream;
let b: Upstream;
let scriptA: (r: UpstreamRequest) => UpstreamReply;
let scriptB: (r: UpstreamRequest) => UpstreamReply;

const answer = (name: string) => (r: UpstreamRequest): UpstreamReply => ({ body: completion(`[${name}/${r.body.model}] ${r.body.messages.at(-1).content}`, r.body.model) });

before(async () => {
  helper.init(require.resolve('node-red'));
  a = await startUpstream((r) => scriptA(r));
  b = await startUpstream((r) => scriptB(r));
});
afterEach(async () => {
  await helper.unload();
  scriptA = answer('A');
  scriptB = answer('B');
});
after(async () => {
  await a.close();
  await b.close();
  await helper.stopServer?.();
});
scriptA = answer('A');
scriptB = answer('B');

function providers(extraA: Record<string, unknown> = {}, extraB: Record<string, unknown> = {}) {
  return [
    { id: 'pa', name: 'Account-A', baseUrl: a.url, apiKey: KEY_A, models: [{ name: 'alpha' }], ...extraA },
    { id: 'pb', name: 'Account-B', baseUrl: b.url, apiKey: KEY_B, ...extraB },
  ];
}

const CHAIN = [
  { provider: 'pa', model: 'alpha' },
  { provider: 'pb', model: 'beta' },
];

test('a prompt string is answered on output 1 with payload, response and msg.llm; usage goes to the ledger', async () => {
  defaultLedger.store.clear(0, Date.now() + 3600_000);
  const { flow, credentials } = buildFlow(providers(), [{ id: 'call', chain: CHAIN }]);
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['call']);
  helper.getNode('call').receive({ payload: 'hello there' });
  const [o] = await c.waitFor(1);
  assert.equal(o.where, 'out1');
  assert.equal(o.msg.payload, '[A/alpha] hello there');
  assert.equal(o.msg.response.choices[0].message.content, '[A/alpha] hello there');
  assert.equal(o.msg.llm.provider, 'Account-A');
  assert.equal(o.msg.llm.model, 'alpha');
  assert.equal(o.msg.llm.cached, false);
  assert.deepEqual(o.msg.llm.usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
  assert.equal(o.msg.llm.attempts.length, 1);
  assert.ok(o.msg.llm.latencyMs >= 0);
  assert.deepEqual(a.requests.at(-1)?.body.messages, [{ role: 'user', content: 'hello there' }]);
  const rows = await defaultLedger.rows(Date.now() - 3600_000, Date.now() + 3600_000, 'UTC');
  assert.deepEqual(rows.map((r) => [r.model, r.requests, r.totalTokens]), [['alpha', 1, 8]]);
});

test('msg.route overrides the chain, providers by name, and failures fall back to the next candidate', async () => {
  scriptA = () => ({ status: 503, body: { error: { message: 'overloaded' } } });
  const { flow, credentials } = buildFlow(providers(), [{ id: 'call', chain: [{ provider: 'pb', model: 'never-used' }], retries: 0 }]);
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['call']);
  helper.getNode('call').receive({
    payload: { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'q1' }], temperature: 0.1 },
    route: [
      { provider: 'Account-A', model: 'alpha' },
      { provider: 'Account-B', model: 'beta' },
    ],
  });
  const [o] = await c.waitFor(1);
  assert.equal(o.where, 'out1');
  assert.equal(o.msg.payload, '[B/beta] q1');
  assert.deepEqual(
    o.msg.llm.attempts.map((x: any) => [x.provider, x.outcome, x.code ?? '']),
    [
      ['Account-A', 'error', 'server_error'],
      ['Account-B', 'ok', ''],
    ],
  );
  assert.equal(b.requests.at(-1)?.body.temperature, 0.1);
});

test('every candidate failing gives output 2 with a friendly error, an emergency status, and recovery', async () => {
  scriptA = () => ({ status: 500, body: {} });
  scriptB = () => ({ reset: true });
  const { flow, credentials } = buildFlow(providers(), [{ id: 'call', chain: CHAIN, retries: 1, friendly: 'Assistant is resting, try again soon.' }]);
  await helper.load([providerNode, callNode], flow, credentials);
  const node = helper.getNode('call');
  const c = collect(['call']);
  node.receive({ payload: 'anyone?' });
  const [o] = await c.waitFor(1);
  assert.equal(o.where, 'out2');
  assert.equal(o.msg.payload, 'anyone?', 'the request stays in msg.payload');
  assert.equal(o.msg.error.code, 'all_candidates_failed');
  assert.equal(o.msg.error.message, 'Assistant is resting, try again soon.');
  assert.equal(o.msg.error.emergency, true);
  assert.match(o.msg.error.detail, /connection closed|HTTP 500/);
  assert.equal(o.msg.error.attempts.filter((x: any) => x.outcome === 'error').length, 4);
  const mine = (spy: any) => spy.getCalls().filter((x: any) => x.thisValue === node);
  await waitFor(() => mine(node.status).some((s: any) => s.args[0]?.fill === 'red'), 2000, 20, 'red status');
  const warns = mine(node.warn).map((w: any) => String(w.args[0]));
  assert.equal(warns.length, 1, 'one emergency warning, not one per message');
  scriptB = answer('B');
  node.receive({ payload: 'back?' });
  const all = await c.waitFor(2);
  assert.equal(all[1].where, 'out1');
  assert.equal(all[1].msg.payload, '[B/beta] back?');
  await waitFor(() => mine(node.status).at(-1)?.args[0]?.fill === 'green', 2000, 20, 'green status after recovery');
});

test('bad input reaches a Catch node with a clear error, and the next message still works', async () => {
  const { flow, credentials } = buildFlow(providers(), [{ id: 'call', chain: CHAIN }]);
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['call']);
  const node = helper.getNode('call');
  node.receive({ payload: 42 });
  node.receive({ payload: { messages: [] } });
  node.receive({ payload: 'x', route: 'Account-A' });
  node.receive({ payload: 'x', route: [{ provider: 'ghost', model: 'm' }] });
  node.receive({ payload: 'fine' });
  const all = await c.waitFor(5);
  const caught = all.filter((o) => o.where === 'catch').map((o) => String(o.msg.error.message));
  assert.equal(caught.length, 4);
  assert.ok(caught.some((m) => /msg\.payload is a number/.test(m)), caught.join('\n'));
  assert.ok(caught.some((m) => /messages is empty/.test(m)));
  assert.ok(caught.some((m) => /msg\.route is a string/.test(m)));
  assert.ok(caught.some((m) => /ghost/.test(m)));
  const ok = all.find((o) => o.where === 'out1');
  assert.equal(ok?.msg.payload, '[A/alpha] fine');
  assert.equal(all.length, 5);
});

test('no chain and no msg.route is a clear error; an upstream invalid request fails fast on output 2', async () => {
  scriptA = () => ({ status: 400, body: { error: { message: 'Invalid value for temperature', type: 'invalid_request_error' } } });
  const { flow, credentials } = buildFlow(providers(), [
    { id: 'empty', chain: [] },
    { id: 'call', chain: CHAIN },
  ]);
  await helper.load([providerNode, callNode], flow, credentials);
  const c = collect(['empty', 'call']);
  helper.getNode('empty').receive({ payload: 'x' });
  helper.getNode('call').receive({ payload: 'y' });
  const all = await c.waitFor(2);
  const caught = all.find((o) => o.where === 'catch');
  assert.match(String(caught?.msg.error.message), /no candidates|noCandidates/);
  const bad = all.find((o) => o.where === 'out2');
  assert.equal(bad?.msg.error.code, 'invalid_request');
  assert.equal(bad?.msg.error.emergency, false);
  assert.equal(b.requests.filter((r) => r.body.messages?.[0]?.content === 'y').length, 0, 'no other candidate is tried');
});

test('local priority 0 skips a candidate', async () => {
  const { flow, credentials } = buildFlow(providers(), [{ id: 'call', chain: CHAIN }]);
  await helper.load([providerNode, callNode], flow, credentials);
  localPriorities.setPriority('Account-A/alpha', 0);
  try {
    const c = collect(['call']);
    helper.getNode('call').receive({ payload: 'skip A' });
    const [o] = await c.waitFor(1);
    assert.equal(o.msg.llm.provider, 'Account-B');
    assert.equal(o.msg.llm.attempts[0].code, 'priority_zero');
  } finally {
    localPriorities.setPriority('Account-A/alpha', 1);
  }
});

test('queued and in-flight messages each end exactly once with an error when the flow stops', async () => {
  scriptA = () => ({ hang: true });
  const { flow, credentials } = buildFlow(providers({ maxConcurrent: 1 }), [{ id: 'call', chain: [{ provider: 'pa', model: 'alpha' }] }]);
  await helper.load([providerNode, callNode], flow, credentials);
  const node = helper.getNode('call');
  const c = collect(['call']);
  // keep our own record: the helper's spies are removed on unload
  const errorCalls: unknown[][] = [];
  const origError = node.error;
  node.error = function (this: unknown, ...args: unknown[]) {
    errorCalls.push(args);
    return origError.apply(this, args);
  };
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const msg = { _msgid: `m${i}`, payload: `hang ${i}`, priority: i % 2 ? 'high' : 'low' };
    ids.push(msg._msgid);
    node.receive(msg);
  }
  await waitFor(() => a.inFlight() === 1, 2000, 10, 'one request in flight');
  await sleep(20);
  await helper.unload();
  await waitFor(() => a.inFlight() === 0, 2000, 10, 'the in-flight request to be aborted');
  await sleep(20);
  const errors = errorCalls.filter((args: any[]) => args[1] && ids.includes(args[1]._msgid)) as any[][];
  const per = new Map<string, number>();
  for (const e of errors) per.set(e[1]._msgid, (per.get(e[1]._msgid) ?? 0) + 1);
  assert.deepEqual([...per.entries()].sort(), ids.map((id) => [id, 1]), 'exactly one error per message');
  assert.equal(c.outcomes.filter((o) => o.where !== 'catch').length, 0, 'no output after close');
  assert.match(String(errors[0][0]?.message ?? errors[0][0]), /stopped or redeployed|errors\.closed/);
});

test('no API key appears in outputs, statuses, logs or errors', async () => {
  scriptA = () => ({ status: 401, body: { error: { message: `Incorrect API key provided: ${KEY_A}` } } });
  scriptB = (r) => (r.body.messages.at(-1).content === 'echo' ? { body: completion(`your key is ${KEY_B}`) } : { status: 500, body: { error: { message: `bad key ${KEY_B}` } } });
  const { flow, credentials } = buildFlow(providers(), [{ id: 'call', chain: CHAIN, retries: 0 }]);
  await helper.load([providerNode, callNode], flow, credentials);
  const node = helper.getNode('call');
  const c = collect(['call']);
  node.receive({ payload: 'echo' });
  node.receive({ payload: 'fail' });
  node.receive({ payload: { messages: 'broken' } });
  const all = await c.waitFor(3);
  await sleep(600); // let the debounced status settle
  const seen = JSON.stringify({
    outcomes: all.map((o) => o.msg),
    status: node.status.getCalls().map((x: any) => x.args),
    warn: node.warn.getCalls().map((x: any) => String(x.args[0])),
    error: node.error.getCalls().map((x: any) => [String(x.args[0]?.message ?? x.args[0]), String(x.args[0]?.stack ?? '')]),
    log: helper.log().args,
  });
  for (const k of [KEY_A, KEY_B]) assert.ok(!seen.includes(k), `key ${k.slice(0, 12)}... leaked`);
  assert.ok(all.some((o) => o.where === 'out1' && /\[redacted\]/.test(o.msg.payload)));
});
