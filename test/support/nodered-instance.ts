/**
 * A real Node-RED 4.1 process with this package installed in its user dir (as a
 * symlink, the way `npm install <folder>` does), for end-to-end tests and the demo.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { freePort, waitFor } from './ports';
import { repoRoot } from './paths';

export interface NodeRedOptions {
  /** flows to deploy at start (array of node objects) */
  flows?: unknown[];
  /** credentials keyed by node id; written in clear (credentialSecret false) */
  credentials?: Record<string, Record<string, string>>;
  port?: number;
  env?: Record<string, string>;
  /** extra settings.js properties, serialised as JSON */
  settings?: Record<string, unknown>;
  /** install node-red-dashboard and ui-table into the user dir (default true) */
  withDashboard?: boolean;
  userDir?: string;
}

export interface NodeRedInstance {
  url: string;
  port: number;
  userDir: string;
  logs(): string;
  /** GET/POST helpers against the admin API */
  request(method: string, urlPath: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: string; json: () => any }>;
  deploy(flows: unknown[], type?: 'full' | 'nodes' | 'flows'): Promise<void>;
  stop(): Promise<void>;
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
    uiHost: '127.0.0.1',
    flowFile: 'flows.json',
    credentialSecret: false,
    logging: { console: { level: 'info', metrics: false, audit: false } },
    editorTheme: { tours: false, palette: { editable: false } },
    ...(opts.settings ?? {}),
  };
  fs.writeFileSync(path.join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  return userDir;
}

export async function startNodeRed(opts: NodeRedOptions = {}): Promise<NodeRedInstance> {
  const port = opts.port ?? (await freePort());
  const userDir = prepareUserDir(opts);
  const redJs = require.resolve('node-red/red.js', { paths: [repoRoot] });
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [redJs, '-u', userDir, '-p', String(port), '-s', path.join(userDir, 'settings.js')], {
    cwd: userDir,
    env: { ...process.env, NODE_RED_ENABLE_PROJECTS: 'false', ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (output += d.toString()));
  child.stderr?.on('data', (d) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;

  const request: NodeRedInstance['request'] = (method, urlPath, body, headers = {}) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = http.request(
        `${url}${urlPath}`,
        { method, headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...headers } },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`Node-RED exited early:\n${output}`);
        const r = await request('GET', '/settings');
        return r.status === 200 && /Started flows|Flows started|Starting flows/i.test(output);
      },
      30_000,
      100,
      'Node-RED to start',
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }

  return {
    url,
    port,
    userDir,
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
