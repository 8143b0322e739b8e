/**
 * Starts a real Node-RED 4.1 process with this package installed in its user dir
 * (as a symlink, the way `npm install <folder>` does). Used by the demo (`npm start`)
 * and by the end-to-end tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';

/** The repository root (this file runs from dist/tools/). */
export const repoRoot = path.resolve(__dirname, '..', '..');

export interface NodeRedOptions {
  /** flows to deploy at start (array of node objects) */
  flows?: unknown[];
  /** credentials keyed by node id; written in clear (credentialSecret false) */
  credentials?: Record<string, Record<string, string>>;
  port?: number;
  host?: string;
  env?: Record<string, string>;
  /** extra settings.js properties, serialised as JSON */
  settings?: Record<string, unknown>;
  /** link node-red-dashboard and ui-table into the user dir (default true) */
  withDashboard?: boolean;
  /** a user dir to use (kept after stop); default: a fresh temporary one, removed on stop */
  userDir?: string;
  /** print Node-RED's output as it comes (the demo) */
  echo?: boolean;
  startTimeoutMs?: number;
}

export interface HttpResult {
  status: number;
  body: string;
  json: () => any;
}

export interface NodeRedInstance {
  url: string;
  port: number;
  userDir: string;
  pid: number | undefined;
  logs(): string;
  request(method: string, urlPath: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  deploy(flows: unknown[], type?: 'full' | 'nodes' | 'flows'): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function linkModule(userDir: string, name: string, target: string): void {
  const dest = path.join(userDir, 'node_modules', ...name.split('/'));
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.rmSync(dest, { recursive: true, force: true });
  fs.symlinkSync(target, dest, 'dir');
}

export function prepareUserDir(opts: NodeRedOptions = {}): string {
  const userDir = opts.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'llm-router-nr-'));
  fs.mkdirSync(userDir, { recursive: true });
  const deps: Record<string, string> = { '@flowgate/node-red-llm-router': `file:${repoRoot}` };
  linkModule(userDir, '@flowgate/node-red-llm-router', repoRoot);
  if (opts.withDashboard !== false) {
    for (const dep of ['node-red-dashboard', 'node-red-node-ui-table']) {
      const target = path.join(repoRoot, 'node_modules', dep);
      if (fs.existsSync(target)) {
        linkModule(userDir, dep, target);
        deps[dep] = '*';
      }
    }
  }
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, dependencies: deps }, null, 2));
  if (opts.flows) fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(opts.flows, null, 2));
  if (opts.credentials) fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(opts.credentials, null, 2));
  const settings = {
    uiHost: opts.host ?? '127.0.0.1',
    flowFile: 'flows.json',
    credentialSecret: false,
    logging: { console: { level: 'info', metrics: false, audit: false } },
    editorTheme: { tours: false, palette: { editable: false } },
    // no update-notification prompt over the editor
    telemetry: { enabled: false },
    ...(opts.settings ?? {}),
  };
  fs.writeFileSync(path.join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  return userDir;
}

export function httpRequest(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(url, { method, headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    if (data) req.write(data);
    req.end();
  });
}

export async function startNodeRed(opts: NodeRedOptions = {}): Promise<NodeRedInstance> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const userDir = prepareUserDir(opts);
  const redJs = require.resolve('node-red/red.js', { paths: [repoRoot] });
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [redJs, '-u', userDir, '-p', String(port), '-s', path.join(userDir, 'settings.js')], {
    cwd: userDir,
    env: { ...process.env, NODE_RED_ENABLE_PROJECTS: 'false', ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (d: Buffer): void => {
    const s = d.toString();
    output += s;
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
    if (opts.echo) process.stdout.write(s);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const url = `http://${host}:${port}`;
  const request: NodeRedInstance['request'] = (method, urlPath, body, headers) => httpRequest(`${url}${urlPath}`, method, body, headers);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited early:\n${output}`);
    if (/Started flows|Waiting for missing types|Error loading flows/i.test(output)) {
      const ok = await request('GET', '/settings').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Node-RED did not start within ${opts.startTimeoutMs ?? 30_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    port,
    userDir,
    pid: child.pid,
    logs: () => output,
    request,
    async deploy(flows, type = 'full') {
      const r = await request('POST', '/flows', flows, { 'Node-RED-API-Version': 'v1', 'Node-RED-Deployment-Type': type });
      if (r.status !== 204 && r.status !== 200) throw new Error(`deploy failed: HTTP ${r.status} ${r.body}`);
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (!opts.userDir) fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}
