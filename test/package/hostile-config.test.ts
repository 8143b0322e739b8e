/**
 * "Never a crash from bad input or bad config" (SPEC §4), for every node type of the
 * package at once: each node is deployed with hostile values in its configuration and
 * fed hostile messages. It must start (a node that throws in its constructor is gone
 * from the flow, with nothing on the canvas to say why), the process must see no
 * uncaught exception or unhandled rejection, and no message may end twice (a Catch
 * node and a Complete node both firing for it, or either firing twice).
 *
 * Node types and sample configurations come from package.json and the examples, so
 * new nodes are covered without editing this file.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { nodeModule, coreNode } from '../support/paths';
import { ourNodeTypes, readExamples, nodeSets, type FlowNode } from '../support/package-files';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

const HOSTILE: unknown[] = [null, '', 'garbage', -1, 1e15, true, {}, [], 'x'.repeat(20_000), '${NO_SUCH_ENV_VAR}'];
const STRUCTURAL = new Set(['id', 'type', 'z', 'wires', 'x', 'y', 'g', 'name', 'd', 'info', 'l']);
const MESSAGES: Array<Record<string, unknown>> = [
  {},
  { payload: null },
  { payload: 42 },
  { payload: 'hello' },
  { payload: { messages: 'not a list' } },
  { payload: [7, 'x', null, { model: 5 }] },
  { payload: 'y'.repeat(200_000) },
  { payload: { id: 'abc', priority: 'high', enabled: 'maybe' } },
  { payload: { messages: [{ role: 'user', content: 'hi' }] }, tier: 99, route: 'nonsense', priority: {} },
  { payload: [{ day: 'yesterday', model: null, totalTokens: 'lots' }], channels: 'none' },
];

const crashes: string[] = [];
const onCrash = (kind: string) => (err: unknown) => crashes.push(`${kind}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
const onException = onCrash('uncaughtException');
const onRejection = onCrash('unhandledRejection');
process.on('uncaughtException', onException);
process.on('unhandledRejection', onRejection);

after(async () => {
  await helper.unload().catch(() => undefined);
  process.off('uncaughtException', onException);
  process.off('unhandledRejection', onRejection);
});

const modules = [
  ...Object.keys(nodeSets()).map((set) => nodeModule(set)),
  coreNode('common/25-catch.js'),
  coreNode('common/24-complete.js'),
];

/** A sample configuration per node type, with the config nodes it references, from the examples. */
function samples(): Map<string, { node: FlowNode; configs: FlowNode[] }> {
  // Only our own config nodes: third-party ones (the dashboard's ui_group) are not loaded here.
  const ours = new Set(ourNodeTypes().filter((t) => t.category === 'config').map((t) => t.type));
  const out = new Map<string, { node: FlowNode; configs: FlowNode[] }>();
  for (const ex of readExamples()) {
    const byId = new Map(ex.nodes.map((n) => [n.id, n]));
    for (const n of ex.nodes) {
      if (out.has(n.type) || !Array.isArray(n.wires)) continue;
      const configs = Object.values(n)
        .filter((v): v is string => typeof v === 'string' && byId.has(v) && ours.has(byId.get(v)!.type))
        .map((id) => byId.get(id)!);
      out.set(n.type, { node: n, configs });
    }
  }
  return out;
}

interface Outcome {
  kind: 'catch' | 'complete';
  msgid: string;
}

async function exercise(type: string, config: Record<string, unknown>, configs: FlowNode[], outputs: number): Promise<{ started: boolean; outcomes: Outcome[] }> {
  const id = 'subject';
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab', label: 'hostile' },
    { ...config, id, type, z: 'tab', wires: Array.from({ length: outputs }, () => []) },
    { id: 'c1', type: 'catch', z: 'tab', scope: [id], uncaught: false, wires: [['sink']] },
    { id: 'c2', type: 'complete', z: 'tab', scope: [id], uncaught: false, wires: [['sink']] },
    { id: 'sink', type: 'helper', z: 'tab' },
    ...configs.map((c) => ({ ...c })),
  ];
  await helper.load(modules as never, flow as never);
  const subject = helper.getNode(id);
  if (!subject) {
    await helper.unload();
    return { started: false, outcomes: [] };
  }
  const outcomes: Outcome[] = [];
  const sink = helper.getNode('sink');
  sink.on('input', (m: Record<string, any>) => outcomes.push({ kind: m.error ? 'catch' : 'complete', msgid: String(m._msgid) }));
  MESSAGES.forEach((m, i) => subject.receive({ ...m, _msgid: `m${i}` }));
  // Most nodes answer at once; give asynchronous ones (unreachable servers) a moment.
  const deadline = Date.now() + 400;
  while (Date.now() < deadline && new Set(outcomes.map((o) => o.msgid)).size < MESSAGES.length) await new Promise((r) => setTimeout(r, 20));
  await helper.unload();
  return { started: true, outcomes };
}

function outputsOf(node: FlowNode): number {
  return Array.isArray(node.wires) ? node.wires.length : 1;
}

const problems: string[] = [];
const flowTypes = ourNodeTypes().filter((t) => t.category !== 'config');
const sampleByType = samples();

for (const info of flowTypes) {
  test(`${info.type}: hostile configuration and messages never crash, every node starts, no message ends twice`, async () => {
    const sample = sampleByType.get(info.type) ?? { node: { id: 'x', type: info.type, wires: [[]] }, configs: [] };
    const base = sample.node;
    const props = Object.keys(base).filter((k) => !STRUCTURAL.has(k));
    const cases: Array<{ label: string; config: Record<string, unknown> }> = [{ label: 'sample', config: { ...base } }];
    for (const v of HOSTILE) cases.push({ label: `all=${JSON.stringify(v)?.slice(0, 20)}`, config: Object.fromEntries([...Object.entries(base), ...props.map((p) => [p, v])]) });
    props.forEach((p, i) => {
      const v = HOSTILE[i % HOSTILE.length];
      cases.push({ label: `${p}=${JSON.stringify(v)?.slice(0, 20)}`, config: { ...base, [p]: v } });
    });
    let observed = 0;
    for (const c of cases) {
      const { started, outcomes } = await exercise(info.type, c.config, sample.configs, outputsOf(base));
      observed += outcomes.length;
      if (!started) {
        problems.push(`${info.type} [${c.label}]: the node did not start`);
        continue;
      }
      const counts = new Map<string, number>();
      for (const o of outcomes) counts.set(o.msgid, (counts.get(o.msgid) ?? 0) + 1);
      for (const [msgid, n] of counts) if (n > 1) problems.push(`${info.type} [${c.label}]: message ${msgid} ended ${n} times (${outcomes.filter((o) => o.msgid === msgid).map((o) => o.kind).join(', ')})`);
    }
    // The harness must really see messages end (Catch / Complete), or it proves nothing.
    assert.ok(observed >= MESSAGES.length, `only ${observed} outcomes observed over ${cases.length} deployments`);
    const mine = problems.filter((p) => p.startsWith(`${info.type} [`));
    assert.deepEqual(mine, [], mine.join('\n'));
    assert.deepEqual(crashes, [], crashes.join('\n'));
  });
}
