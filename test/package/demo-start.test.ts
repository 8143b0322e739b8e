/**
 * `npm start` as a newcomer runs it: the demo (dist/tools/demo.js) starts Node-RED with
 * this package, the example flows and the simulators; the editor (/) and the dashboard
 * (/ui) answer; Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stops
 * everything within 15 s and frees every port. The simulators use fixed ports 3000 (One
 * API) and 4010 (providers), as the examples' URLs expect: the test fails clearly when
 * something else holds them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { distRoot } from '../support/paths';
import { freePort, sleep } from '../support/ports';
import { httpRequest } from '../support/nodered-instance';
import { ourNodeTypes } from '../support/package-files';

const SIM_PORTS = [3000, 4010];

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm start: editor and dashboard answer, Ctrl-C stops everything within 15 s and frees the ports', { timeout: 120_000 }, async (t) => {
  for (const p of SIM_PORTS) assert.ok(await portIsFree(p), `port ${p} is in use: the demo's simulators need 127.0.0.1:${p} (stop whatever holds it)`);
  const port = await freePort();
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-router-demo-'));
  const child = spawn(process.execPath, [path.join(distRoot, 'tools', 'demo.js')], {
    env: { ...process.env, PORT: String(port), DEMO_USER_DIR: userDir, DEMO_QUIET: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so SIGINT can go to the group like a terminal's Ctrl-C
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const pgid = child.pid!;
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 60_000;
    let editor = 0;
    let ui = 0;
    while (Date.now() < deadline && child.exitCode === null) {
      editor = await httpRequest(`${base}/`, 'GET').then((r) => r.status, () => 0);
      ui = await httpRequest(`${base}/ui/`, 'GET').then((r) => r.status, () => 0);
      if (editor === 200 && ui === 200 && /demo is running/.test(output)) break;
      await sleep(250);
    }
    assert.equal(child.exitCode, null, `the demo exited early:\n${output}`);
    assert.equal(editor, 200, `the editor did not answer 200 within 60 s:\n${output}`);
    assert.equal(ui, 200, `the dashboard (/ui) did not answer 200 within 60 s:\n${output}`);
    assert.match(output, /demo is running/);

    // The example flows are deployed and use the package's nodes.
    const flows = (await httpRequest(`${base}/flows`, 'GET')).json() as Array<{ type: string }>;
    const deployedTypes = new Set(flows.map((n) => n.type));
    const ours = ourNodeTypes().map((t) => t.type).filter((t) => deployedTypes.has(t));
    assert.ok(ours.length > 0, `no node of this package is deployed in the demo: ${[...deployedTypes].join(', ')}`);
    for (const p of SIM_PORTS) assert.equal(await portIsFree(p), false, `the simulator on ${p} is not listening`);

    const stopAt = Date.now();
    process.kill(-pgid, 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([exited, new Promise<null>((r) => (timer = setTimeout(() => r(null), 15_000)))]);
    clearTimeout(timer);
    const stopMs = Date.now() - stopAt;
    assert.ok(result, `the demo did not exit within 15 s of Ctrl-C:\n${output.slice(-3000)}`);
    assert.equal(result.code, 0, `exit code ${result.code} signal ${result.signal}:\n${output.slice(-3000)}`);
    const end = Date.now() + 5_000;
    while (groupAlive(pgid) && Date.now() < end) await sleep(100);
    assert.equal(groupAlive(pgid), false, 'a process of the demo (Node-RED?) is still running after the demo exited');
    for (const p of [port, ...SIM_PORTS]) assert.ok(await portIsFree(p), `port ${p} is still in use after the demo stopped`);
    assert.ok(stopMs < 15_000);
    t.diagnostic(`the demo stopped ${stopMs} ms after SIGINT`);
  } finally {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    fs.rmSync(userDir, { recursive: true, force: true });
  }
});
