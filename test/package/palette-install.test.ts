/**
 * Install from the palette, as a new user does: `npm pack` of the built package, the
 * tarball's contents, an `npm install --omit=dev --engine-strict` of it into a fresh
 * Node-RED user dir (registry access for the runtime dependencies; node-red-dashboard,
 * the optional peer, is NOT installed), then a real Node-RED 4.1 on that user dir:
 * every node set loads with no error, every example is listed under Import > Examples,
 * and every example deploys with no unknown types (examples using Dashboard widgets wait
 * only for the ui_* types, and deploy fully once the dashboard is installed as well).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { builtinModules } from 'node:module';
import { findSecrets, isStructural, nodeSets, ourNodeTypes, readExamples, readPackageJson, registeredTypesInHtml, SECRET_PATTERNS } from '../support/package-files';
import { packRepository, paletteInstall, freshUserDir, startInstalledNodeRed, type Packed, type RunningNodeRed } from '../support/installed-nodered';

const pkg = readPackageJson();
const MODULE = pkg.name as string;
const sets = nodeSets();
const ours = ourNodeTypes();
const examples = readExamples();
const ALLOWED_PREFIXES = ['package.json', 'README.md', 'LICENSE', 'dist/engine/', 'dist/nodes/', 'examples/'];
const FORBIDDEN = /(^|\/)(test|tests|simulators|bench|tools|\.demo|coverage|node_modules)\/|(^|\/)\.(env|npmrc)|_cred\.json$|\.(pem|key|p12|tgz)$|\.ts$/;

let tmp = '';
let packed: Packed;
let userDir = '';
let installLog = '';
let red: RunningNodeRed | null = null;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-router-pack-'));
  packed = await packRepository(tmp);
  userDir = freshUserDir();
  installLog = await paletteInstall(userDir, [packed.file]);
  red = await startInstalledNodeRed(userDir);
});

after(async () => {
  if (red) await red.stop();
  if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** URL-encodes each segment of a slash-separated path (example names have spaces). */
function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

function installedRoot(): string {
  return path.join(userDir, 'node_modules', ...MODULE.split('/'));
}

test('the tarball holds only the runtime files: dist/engine, dist/nodes, examples, README, LICENSE', (t) => {
  const paths = packed.files.map((f) => f.path);
  const outside = paths.filter((p) => !ALLOWED_PREFIXES.some((a) => p === a || p.startsWith(a)));
  assert.deepEqual(outside, [], 'files outside the published set');
  const forbidden = paths.filter((p) => FORBIDDEN.test(p));
  assert.deepEqual(forbidden, [], 'tests, simulators, tools, sources or secret files in the tarball');
  for (const required of ['package.json', 'README.md', 'LICENSE']) assert.ok(paths.includes(required), `${required} missing from the tarball`);
  const maps = paths.filter((p) => p.endsWith('.map'));
  if (maps.length) t.diagnostic(`${maps.length} source maps are published whose TypeScript sources are not (e.g. ${maps[0]})`);
});

test('the tarball has, for every node set, its runtime file, editor HTML and en-US + zh-CN help and messages', () => {
  const paths = new Set(packed.files.map((f) => f.path));
  const missing: string[] = [];
  for (const js of Object.values(sets)) {
    const rel = js.replace(/^\.\//, '');
    const dir = path.posix.dirname(rel);
    const base = path.posix.basename(rel).replace(/\.c?js$/, '');
    for (const f of [rel, `${dir}/${base}.html`, ...['en-US', 'zh-CN'].flatMap((l) => [`${dir}/locales/${l}/${base}.html`, `${dir}/locales/${l}/${base}.json`])]) {
      if (!paths.has(f)) missing.push(f);
    }
  }
  for (const ex of examples) if (!paths.has(`examples/${ex.file}`)) missing.push(`examples/${ex.file}`);
  assert.deepEqual(missing, []);
});

test('no shipped file contains a secret-looking value', () => {
  const root = installedRoot();
  const hits: string[] = [];
  for (const f of packed.files) {
    if (!/\.(js|json|html|md)$/.test(f.path) || f.path.endsWith('.map')) continue;
    const text = fs.readFileSync(path.join(root, f.path), 'utf8');
    if (f.path.startsWith('examples/')) {
      for (const h of findSecrets(JSON.parse(text))) hits.push(`${f.path}: ${h}`);
      continue;
    }
    for (const p of SECRET_PATTERNS) {
      const m = p.re.exec(text);
      if (m) hits.push(`${f.path}: ${p.name} "${m[0].slice(0, 12)}..."`);
    }
  }
  assert.deepEqual(hits, []);
});

test('every require() in the shipped code resolves inside the package, to a builtin or to a runtime dependency', () => {
  const root = installedRoot();
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const builtins = new Set(builtinModules.flatMap((b) => [b, `node:${b}`]));
  const problems: string[] = [];
  for (const f of packed.files) {
    if (!f.path.endsWith('.js')) continue;
    const text = fs.readFileSync(path.join(root, f.path), 'utf8');
    for (const m of text.matchAll(/(?<![.\w$])require\(\s*["']([^"']+)["']\s*\)/g)) {
      const spec = m[1];
      if (spec.startsWith('.')) {
        const target = path.join(path.dirname(path.join(root, f.path)), spec);
        if (![target, `${target}.js`, `${target}.json`, path.join(target, 'index.js')].some((p) => fs.existsSync(p) && fs.statSync(p).isFile())) problems.push(`${f.path}: ${spec} is not in the package`);
      } else {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!builtins.has(spec) && !builtins.has(name) && !deps.has(name)) problems.push(`${f.path}: ${spec} is not a runtime dependency`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('npm installs the tarball with production dependencies only and without node-red-dashboard', () => {
  const nm = path.join(userDir, 'node_modules');
  assert.ok(fs.existsSync(path.join(installedRoot(), 'package.json')), `not installed:\n${installLog}`);
  assert.ok(!fs.existsSync(path.join(installedRoot(), '..', '..', 'node-red-dashboard')), 'node-red-dashboard was installed with the package');
  for (const dep of Object.keys(pkg.dependencies ?? {})) assert.ok(fs.existsSync(path.join(nm, ...dep.split('/'), 'package.json')), `runtime dependency ${dep} not installed`);
  for (const dev of ['node-red', 'typescript', 'node-red-node-test-helper', 'playwright-core']) assert.ok(!fs.existsSync(path.join(nm, dev)), `devDependency ${dev} was installed`);
  const userPkg = JSON.parse(fs.readFileSync(path.join(userDir, 'package.json'), 'utf8'));
  assert.ok(userPkg.dependencies[MODULE], 'the user dir package.json does not list the package (as the palette saves it)');
});

test('GET /nodes lists every node set of the package loaded with no error, and every node type', async () => {
  assert.ok(red);
  const r = await red.request('GET', '/nodes', undefined, { Accept: 'application/json' });
  assert.equal(r.status, 200);
  const list = r.json() as Array<{ id: string; name: string; module: string; types: string[]; enabled: boolean; err?: string }>;
  const mine = list.filter((s) => s.module === MODULE);
  const problems: string[] = [];
  for (const set of Object.keys(sets)) {
    const s = mine.find((x) => x.name === set);
    if (!s) problems.push(`${set}: not listed`);
    else if (s.err || !s.enabled) problems.push(`${set}: enabled=${s.enabled} err=${s.err}`);
  }
  const registered = new Set(mine.flatMap((s) => s.types));
  for (const t of ours) if (!registered.has(t.type)) problems.push(`type ${t.type} not registered`);
  assert.deepEqual(problems, [], `node sets with problems; Node-RED log:\n${red.logs().split('\n').filter((l) => /warn|error/i.test(l)).join('\n')}`);
  assert.ok(!list.some((s) => s.module === 'node-red-dashboard'), 'node-red-dashboard should not be installed here');
});

test('the editor receives each node set\'s HTML and its English messages', async () => {
  assert.ok(red);
  const html = await red.request('GET', '/nodes', undefined, { Accept: 'text/html' });
  assert.equal(html.status, 200);
  const inEditor = new Set(registeredTypesInHtml(html.body).map((x) => x.type));
  assert.deepEqual(ours.filter((t) => !inEditor.has(t.type)).map((t) => t.type), [], 'types without an editor definition in GET /nodes (text/html)');
  const messages = await red.request('GET', '/nodes/messages?lng=en-US', undefined, { Accept: 'application/json' });
  assert.equal(messages.status, 200);
  const catalogs = messages.json() as Record<string, unknown>;
  const missing = Object.keys(sets).filter((set) => !catalogs[`${MODULE}/${set}`]);
  assert.deepEqual(missing, [], 'node sets without an en-US message catalog');
});

test('Import > Examples lists every example of the package, and each one reads back as the shipped flow', async () => {
  assert.ok(red);
  assert.ok(examples.length > 0, 'the package has no examples/**.json');
  const r = await red.request('GET', '/library/examples/flows/', undefined, { Accept: 'application/json' });
  assert.equal(r.status, 200, r.body);
  const modules = r.json() as string[];
  assert.ok(modules.includes(MODULE), `${MODULE} is not under Import > Examples: ${JSON.stringify(modules)}`);
  // The editor's menu walks the library the same way: directories are strings, files {fn}.
  const listed: string[] = [];
  const walk = async (sub: string): Promise<void> => {
    const res = await red!.request('GET', `/library/examples/flows/${MODULE}/${encodePath(sub)}`, undefined, { Accept: 'application/json' });
    assert.equal(res.status, 200, `${sub}: ${res.body}`);
    for (const e of res.json() as Array<string | { fn: string }>) {
      if (typeof e === 'string') await walk(`${sub}${e}/`);
      else listed.push(`${sub}${e.fn}`);
    }
  };
  await walk('');
  const expected = examples.map((e) => e.file.replace(/\.json$/, '')).sort();
  assert.deepEqual(listed.sort(), expected);
  for (const ex of examples) {
    const urlPath = `/library/examples/flows/${MODULE}/${encodePath(ex.file.replace(/\.json$/, ''))}`;
    const flow = await red.request('GET', urlPath, undefined, { Accept: 'application/json' });
    assert.equal(flow.status, 200, `${urlPath}: ${flow.body}`);
    assert.deepEqual(flow.json(), ex.nodes, `${ex.file} reads back differently`);
  }
});

const dashboardExamples = examples.filter((e) => e.nodes.some((n) => !isStructural(n) && n.type.startsWith('ui_')));

for (const ex of examples) {
  const usesDashboard = dashboardExamples.includes(ex);
  test(`example "${ex.file}" deploys${usesDashboard ? ' (waiting only for Dashboard types, which are not installed)' : ' and starts'}`, { timeout: 30_000 }, async () => {
    assert.ok(red);
    const result = await red.deploy(ex.nodes);
    if (usesDashboard) {
      const notUi = result.missingTypes.filter((t) => !t.startsWith('ui_'));
      assert.deepEqual(notUi, [], `missing types other than Dashboard widgets:\n${result.log}`);
    } else {
      assert.ok(result.started, `flows did not start:\n${result.log}`);
    }
    const crashes = result.log.split('\n').filter((l) => /TypeError|ReferenceError|is not a function|Cannot read prop|Unhandled|uncaught/i.test(l));
    assert.deepEqual(crashes, []);
  });
}

test('with node-red-dashboard installed as well, the Dashboard examples deploy and start', { timeout: 240_000, skip: dashboardExamples.length === 0 && 'no example uses Dashboard widgets' }, async () => {
  assert.ok(red);
  await red.stop();
  red = null;
  const devDeps = pkg.devDependencies ?? {};
  const needed = new Set(['node-red-dashboard']);
  if (dashboardExamples.some((e) => e.nodes.some((n) => n.type === 'ui_table'))) needed.add('node-red-node-ui-table');
  const specs = [...needed].map((n) => (devDeps[n] ? `${n}@${devDeps[n]}` : n));
  await paletteInstall(userDir, specs);
  red = await startInstalledNodeRed(userDir);
  for (const ex of dashboardExamples) {
    const result = await red.deploy(ex.nodes);
    assert.ok(result.started, `examples/${ex.file} did not start with the dashboard installed (missing: ${result.missingTypes.join(', ')}):\n${result.log}`);
  }
});
