/**
 * What the Flow Library scorecard and a palette install demand of our dependencies:
 * at most 6 runtime dependencies, every range admitting the latest major, and
 * ranges that still install on the oldest Node we claim (--engine-strict, as the
 * palette installer runs npm). Uses the npm registry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import semver from 'semver';
import { repoRoot } from '../support/paths';

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const deps: Record<string, string> = pkg.dependencies;

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

test('at most 6 runtime dependencies, and node-red is not one of them', () => {
  assert.ok(Object.keys(deps).length <= 6, `dependencies: ${Object.keys(deps).join(', ')}`);
  assert.equal(deps['node-red'], undefined);
  assert.equal(deps['node-red-dashboard'], undefined, 'the dashboard must stay optional');
});

test('every runtime dependency range admits the latest published version', () => {
  for (const [name, range] of Object.entries(deps)) {
    const latest = npm(['view', name, 'version'], repoRoot).trim().split('\n').pop()!.replace(/.*'(.*)'.*/, '$1');
    assert.ok(semver.valid(latest), `could not read the latest version of ${name}: ${latest}`);
    assert.ok(semver.satisfies(latest, range), `${name}@${latest} is outside "${range}"`);
  }
});

test('node-red and engines ranges match what the palette checks', () => {
  assert.equal(pkg['node-red'].version, '>=4.1.0');
  assert.equal(pkg.engines.node, '>=18.5');
  assert.ok(semver.satisfies('4.1.0', pkg['node-red'].version) && semver.satisfies('5.0.7', pkg['node-red'].version));
});

test('opossum "^9.0.0 || ^10.0.0" installs 9.x on Node 20 under --engine-strict', { skip: !process.version.startsWith('v20.') && 'runs on Node 20' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-router-range-'));
  try {
    const range = deps.opossum;
    assert.equal(range, '^9.0.0 || ^10.0.0');
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'range-check', version: '1.0.0', dependencies: { opossum: range } }));
    npm(['install', '--package-lock-only', '--engine-strict', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
    const resolved = lock.packages['node_modules/opossum'].version as string;
    assert.equal(semver.major(resolved), 9, `resolved opossum ${resolved}`);
    // And 10 really is out of reach here: its engines exclude Node 20.
    const engines10 = npm(['view', 'opossum@10', 'engines.node'], dir).trim().split('\n').pop()!;
    assert.ok(!semver.satisfies(process.version, engines10.replace(/.*'(.*)'.*/, '$1')), `opossum 10 engines: ${engines10}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
