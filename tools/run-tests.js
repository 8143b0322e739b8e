#!/usr/bin/env node
'use strict';
// Runs every compiled test file (dist/test/**/*.test.js) with Node's test runner.
// Optional filter: node tools/run-tests.js <substring> [...]
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const testRoot = path.join(root, 'dist', 'test');
const filters = process.argv.slice(2);

function walk(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else if (entry.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let files = walk(testRoot, []).sort();
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files found (did the build run?)');
  process.exit(1);
}
fs.mkdirSync(path.join(root, 'test-output'), { recursive: true });
const args = ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files];
const res = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root, env: { ...process.env, NODE_ENV: 'test' } });
process.exit(res.status === null ? 1 : res.status);
