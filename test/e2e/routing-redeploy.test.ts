/**
 * Redeploys in the middle of load: the call node and a provider are replaced
 * (a "modified nodes" deploy) while messages are queued and in flight, and the
 * flow is finally stopped under load. Every message ends exactly once (an
 * output, or an error for a Catch node), no credential shows up anywhere, and
 * nothing is left running: no timer, socket or server keeps the process alive.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { providerRegistry } from '../../engine/providers';
import { helper, providerNode, callNode, buildFlow, collect } from '../support/llm-flow';
import { sleep, waitFor } from '../support/ports';

const KEYS = { a: 'sk-sim-redeploy-key-a-123', b: 'sk-sim-redeploy-key-b-456' };
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({
    timeScale: 0.05,
    accounts: [
      { key: KEYS.a, name: 'Account-A', concurrency: 3, latencyMs: 30 },
      { key: KEYS.b, name: 'Account-B', concurrency: 3, latencyMs: 30 },
    ],
  });
});
after(async () => {
  await helper.unload();
  await sim.close();
});

function flowV(version: number) {
  return buildFlow(
    [
      { id: 'pa', name: 'Account-A', baseUrl: sim.url, apiKey: KEYS.a, maxConcurrent: 3, rpm: version === 1 ? '' : 5000 },
      { id: 'pb', name: 'Account-B', baseUrl: sim.url, apiKey: KEYS.b, maxConcurrent: 3 },
    ],
    [
      {
        id: 'call',
        chain: [
          { provider: 'pa', model: 'm' },
          { provider: 'pb', model: 'm' },
        ],
        retries: version === 1 ? 2 : 1,
      },
    ],
  );
}

test('redeploy and stop under load: exactly one outcome per message, no credential anywhere, nothing left running', async () => {
  const v1 = flowV(1);
  await helper.load([providerNode, callNode], v1.flow, v1.credentials);
  const c = collect(['call']);
  // done(err) is reported through node.error(err, msg): record it per node instance
  const errors: Array<{ id: string; text: string }> = [];
  const statuses: string[] = [];
  const watch = (node: any): void => {
    const origError = node.error;
    node.error = function (this: unknown, ...args: any[]) {
      if (args[1]?._msgid) errors.push({ id: String(args[1]._msgid), text: String(args[0]?.message ?? args[0]) });
      return origError.apply(this, args);
    };
    const origStatus = node.status;
    node.status = function (this: unknown, ...args: any[]) {
      statuses.push(JSON.stringify(args[0]));
      return origStatus.apply(this, args);
    };
  };
  const first = helper.getNode('call');
  watch(first);

  const sent: string[] = [];
  const send = (batch: number): void => {
    const node = helper.getNode('call');
    for (let i = 0; i < 15; i++) {
      const id = `r${batch}-${i}`;
      sent.push(id);
      node.receive({ _msgid: id, payload: `message ${id}` });
    }
  };
  for (let b = 0; b < 8; b++) {
    send(b);
    await sleep(25);
  }
  assert.ok(first && (first as any).id === 'call');
  // redeploy the changed call node and provider while messages wait and run
  const v2 = flowV(2);
  await helper.setFlows(v2.flow, 'nodes', v2.credentials);
  const second = helper.getNode('call');
  assert.notEqual(second, first, 'the call node was replaced');
  watch(second);
  assert.equal(providerRegistry.get('pa')?.limiter.rpm, 5000, 'the new provider settings are live');
  for (let b = 8; b < 16; b++) {
    send(b);
    await sleep(25);
  }
  await sleep(60);
  // stop everything while the last messages are still queued
  await helper.unload();

  await waitFor(
    () => {
      const done = new Set([...c.outcomes.filter((o) => o.where !== 'catch').map((o) => String(o.msg._msgid)), ...errors.map((e) => e.id)]);
      return sent.every((id) => done.has(id));
    },
    5000,
    20,
    'every message to end',
  );
  const count = new Map<string, number>();
  for (const o of c.outcomes) if (o.where !== 'catch') count.set(String(o.msg._msgid), (count.get(String(o.msg._msgid)) ?? 0) + 1);
  for (const e of errors) count.set(e.id, (count.get(e.id) ?? 0) + 1);
  const wrong = sent.filter((id) => count.get(id) !== 1);
  assert.deepEqual(wrong, [], 'messages without exactly one outcome');
  assert.equal(count.size, sent.length);
  const answered = c.outcomes.filter((o) => o.where === 'out1').length;
  const cancelled = errors.filter((e) => /stopped or redeployed|errors\.closed/.test(e.text)).length;
  assert.ok(answered > 30, `${answered} answered`);
  assert.ok(cancelled > 10, `${cancelled} ended by a redeploy or stop`);
  assert.equal(answered + cancelled, sent.length, 'every message was either answered or cancelled by a redeploy');

  // no credential in any output, error, status or log line
  const seen = JSON.stringify({ out: c.outcomes.map((o) => o.msg), errors, statuses, log: helper.log().args });
  assert.ok(!seen.includes(KEYS.a) && !seen.includes(KEYS.b));
  assert.equal(providerRegistry.list().length, 0, 'stopped providers leave the registry');

  // nothing keeps the process alive once the simulator is closed
  await sim.close();
  await sleep(100);
  // (the PipeWraps are this process's stdout/stderr to the test runner)
  const left = process.getActiveResourcesInfo().filter((r) => /Timeout|TCP|Immediate|UDP|Process/.test(r));
  assert.deepEqual(left, [], `still active: ${left.join(', ')}`);
});
