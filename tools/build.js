#!/usr/bin/env node
'use strict';
// Build: TypeScript -> CommonJS in dist/, then copy each node's editor HTML,
// locales and the shared icons next to its compiled runtime file, where the
// Node-RED loader looks for them.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

function copyDir(from, to) {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) copyDir(src, dst);
    else fs.copyFileSync(src, dst);
  }
}

// dist/ is updated in place (tests may be running from it); stale outputs are pruned below.
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], {
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  console.error('build: TypeScript compilation failed');
  process.exit(tsc.status || 1);
}

// Remove compiled files whose TypeScript source no longer exists.
function prune(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path.relative(dist, p).split(path.sep)[0] === 'nodes' && entry.name === 'locales') continue;
      if (entry.name === 'icons') continue;
      prune(p);
      continue;
    }
    const m = /^(.*)\.js(\.map)?$/.exec(entry.name);
    if (!m) continue;
    const source = path.join(root, path.relative(dist, dir), `${m[1]}.ts`);
    if (!fs.existsSync(source)) fs.rmSync(p, { force: true });
  }
}
prune(dist);

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const declared = pkg['node-red'].nodes;
const nodesDir = path.join(root, 'nodes');
const problems = [];
const found = new Set();
for (const entry of fs.readdirSync(nodesDir, { withFileTypes: true })) {
  if (!entry.isDirectory()) continue;
  const type = entry.name;
  const runtime = path.join(nodesDir, type, `${type}.ts`);
  if (!fs.existsSync(runtime)) continue; // shared helper folders
  found.add(type);
  const out = path.join(dist, 'nodes', type);
  const html = path.join(nodesDir, type, `${type}.html`);
  if (!fs.existsSync(html)) problems.push(`nodes/${type}: missing ${type}.html`);
  else fs.copyFileSync(html, path.join(out, `${type}.html`));
  copyDir(path.join(nodesDir, type, 'locales'), path.join(out, 'locales'));
  copyDir(path.join(root, 'icons'), path.join(out, 'icons'));
  const expected = `dist/nodes/${type}/${type}.js`;
  if (declared[type] !== expected) problems.push(`package.json node-red.nodes["${type}"] should be "${expected}"`);
}
for (const type of Object.keys(declared)) {
  if (!found.has(type)) problems.push(`package.json lists node "${type}" but nodes/${type}/${type}.ts does not exist`);
}
if (problems.length) {
  console.error('build: node layout problems:\n  ' + problems.join('\n  '));
  process.exit(1);
}
console.log(`build: ${found.size} node(s) compiled into dist/nodes`);
