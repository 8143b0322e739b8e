/**
 * Import > Examples, as a new user meets it: every examples/**.json flow loads into a
 * Node-RED runtime (node-red-node-test-helper with this package's node modules and the
 * core nodes the flow uses) with no unknown types and every node started; together the
 * examples use every non-config node of the package; and no example carries a credential.
 * node-red-dashboard is not loaded here: its ui_* types are stub registrations, as the
 * non-dashboard nodes must work without it.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { repoRoot } from '../support/paths';
import { coreNodeFiles, findSecrets, flowNodeTypes, isStructural, nodeSets, ourNodeTypes, readExamples, unknownTypes, type FlowNode } from '../support/package-files';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');

const examples = readExamples();
const ours = ourNodeTypes();
const ourTypes = new Set(ours.map((t) => t.type));
const core = coreNodeFiles();
/** loaded by the helper itself whenever a flow uses them */
const HELPER_CORE = new Set(['catch', 'status', 'complete']);

function load(file: string): (red: unknown) => unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file);
  return mod && mod.default ? mod.default : mod;
}

/** Our node modules, one per package.json node set (from dist/, as the runtime loads them). */
const ourModules = Object.values(nodeSets()).map((js) => () => load(path.join(repoRoot, js)));

/** A module registering inert stand-ins for Dashboard types (ui_*), which are not installed here. */
function dashboardStubs(types: string[]): (red: any) => void {
  return (red: any) => {
    for (const t of types) {
      red.nodes.registerType(t, function (this: any, config: Record<string, unknown>) {
        red.nodes.createNode(this, config);
      });
    }
  };
}

function modulesFor(nodes: FlowNode[]): { modules: Array<(red: unknown) => unknown>; stubbed: string[] } {
  const types = new Set(nodes.filter((n) => !isStructural(n)).map((n) => n.type));
  const coreFiles = new Set<string>();
  const stubbed: string[] = [];
  for (const t of types) {
    if (ourTypes.has(t) || HELPER_CORE.has(t)) continue;
    const f = core.get(t);
    if (f) coreFiles.add(f);
    else if (t.startsWith('ui_')) stubbed.push(t);
  }
  const modules = [...ourModules.map((m) => m()), ...[...coreFiles].map((f) => load(f))];
  if (stubbed.length) modules.push(dashboardStubs(stubbed));
  return { modules, stubbed };
}

before(() => {
  helper.init(require.resolve('node-red'));
});

afterEach(async () => {
  await helper.unload();
});

after(async () => {
  await helper.stopServer().catch(() => undefined);
});

test('the package ships example flows (examples/**.json)', () => {
  assert.ok(examples.length > 0, 'examples/ holds no .json flow: Import > Examples would show nothing for this package');
});

test('every non-config node type of the package is used in some example', () => {
  const flowTypes = flowNodeTypes();
  assert.ok(flowTypes.length > 0, 'no node types found in package.json "node-red".nodes');
  const used = new Set(examples.flatMap((e) => e.nodes.map((n) => n.type)));
  const missing = flowTypes.filter((t) => !used.has(t));
  assert.deepEqual(missing, [], `node types with no example: ${missing.join(', ')}`);
});

test('every node type the package declares has an editor definition with a category', () => {
  const bad = ours.filter((t) => !t.category).map((t) => `${t.type} (set ${t.set})`);
  assert.deepEqual(bad, [], 'no RED.nodes.registerType(<literal>, {category: <literal>}) found for these');
});

for (const ex of examples) {
  test(`example "${ex.file}": only known node types (this package, Node-RED core, Dashboard)`, () => {
    const known = new Set([...ourTypes, ...core.keys(), ...HELPER_CORE]);
    const unknown = unknownTypes(ex.nodes, known).filter((t) => !t.startsWith('ui_'));
    assert.deepEqual(unknown, [], `unknown node types in examples/${ex.file}`);
  });

  test(`example "${ex.file}": loads and every enabled node starts`, { timeout: 30_000 }, async () => {
    // A copy, without inject-at-start: this checks loading, not the flow's network calls.
    const flow = JSON.parse(JSON.stringify(ex.nodes)) as FlowNode[];
    for (const n of flow) if (n.type === 'inject') n.once = false;
    const { modules } = modulesFor(flow);
    await helper.load(modules, flow);
    const disabledTabs = new Set(flow.filter((n) => (n.type === 'tab' || n.type === 'subflow') && n.disabled).map((n) => n.id));
    const notStarted: string[] = [];
    for (const n of flow) {
      if (isStructural(n) || n.d || (n.z && disabledTabs.has(n.z))) continue;
      if (!helper.getNode(n.id)) notStarted.push(`${n.id} (${n.type}${n.name ? ` "${String(n.name)}"` : ''})`);
    }
    assert.deepEqual(notStarted, [], `nodes of examples/${ex.file} that did not start`);
  });

  test(`example "${ex.file}": no credentials or secret-looking values`, () => {
    assert.deepEqual(findSecrets(ex.nodes), []);
  });

  test(`example "${ex.file}": every wire and tab reference points at a node of the flow, ids unique`, () => {
    const ids = new Set(ex.nodes.map((n) => n.id));
    const dangling: string[] = [];
    for (const n of ex.nodes) {
      if (Array.isArray(n.wires)) for (const port of n.wires as unknown[]) for (const id of (port as string[]) ?? []) if (!ids.has(id)) dangling.push(`${n.id} -> ${id}`);
      if (n.z && !ids.has(n.z)) dangling.push(`${n.id} z=${n.z}`);
    }
    const dupes = ex.nodes.map((n) => n.id).filter((id, i, a) => a.indexOf(id) !== i);
    assert.deepEqual({ dangling, dupes }, { dangling: [], dupes: [] });
  });
}
