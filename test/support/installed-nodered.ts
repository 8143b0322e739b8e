/**
 * This package as a user installs it: `npm pack` of the built repository, installed from
 * the tarball into a fresh Node-RED user dir the way the palette manager runs npm, and a
 * real Node-RED 4.1 (from this repository's node_modules) started on that user dir.
 * Unlike tools/nodered-launcher, nothing is linked from the repository.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './paths';
import { freePort } from './ports';
import { httpRequest, type HttpResult } from '../../tools/nodered-launcher';

export interface PackedFile {
  path: string;
  size: number;
}

export interface Packed {
  /** absolute path of the .tgz */
  file: string;
  name: string;
  version: string;
  files: PackedFile[];
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * `npm pack` of the repository into `destDir`, without lifecycle scripts (the build has
 * already run; prepack would rebuild dist/ under other running tests).
 */
export async function packRepository(destDir: string): Promise<Packed> {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'nodes'))) throw new Error('dist/nodes is missing: run `npm run build` first');
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destDir], repoRoot, 120_000);
  const info = JSON.parse(stdout.slice(stdout.indexOf('[')))[0];
  return { file: path.join(destDir, info.filename), name: info.name, version: info.version, files: info.files };
}

/** Unpacks a tarball into `destDir` (the package root ends up at destDir/package). */
export async function unpack(tgz: string, destDir: string): Promise<string> {
  fs.mkdirSync(destDir, { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', destDir], destDir, 60_000);
  return path.join(destDir, 'package');
}

/** A fresh, empty Node-RED user dir (package.json, settings.js with runtimeState, no flows). */
export function freshUserDir(settings: Record<string, unknown> = {}): string {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-router-palette-'));
  // Node-RED also scans every node_modules above its core nodes directory, which would pick up
  // this repository's devDependencies (node-red-dashboard ...). Pointing coreNodesDir at a link
  // inside the user dir keeps the scan to modules installed in the user dir.
  const coreNodesDir = path.join(userDir, '.node-red-core', 'nodes');
  fs.mkdirSync(path.dirname(coreNodesDir), { recursive: true });
  const realCore = path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [path.dirname(require.resolve('node-red/package.json', { paths: [repoRoot] }))] }));
  fs.symlinkSync(realCore, coreNodesDir, 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true, dependencies: {} }, null, 2));
  const all = {
    uiHost: '127.0.0.1',
    flowFile: 'flows.json',
    credentialSecret: false,
    logging: { console: { level: 'info', metrics: false, audit: false } },
    editorTheme: { tours: false, projects: { enabled: false } },
    coreNodesDir,
    ...settings,
  };
  fs.writeFileSync(path.join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(all, null, 2)};\n`);
  return userDir;
}

/**
 * Installs packages into a user dir with the palette manager's npm command line
 * (@node-red/registry/lib/installer.js): production dependencies only, engine-strict.
 */
export async function paletteInstall(userDir: string, specs: string[]): Promise<string> {
  const { stdout, stderr } = await run(
    'npm',
    ['install', '--no-audit', '--no-update-notifier', '--no-fund', '--save', '--save-prefix=~', '--omit=dev', '--engine-strict', '--', ...specs],
    userDir,
    240_000,
  );
  return stdout + stderr;
}

export interface RunningNodeRed {
  url: string;
  port: number;
  pid: number | undefined;
  logs(): string;
  request(method: string, urlPath: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  /** POST /flows (full) and wait for the runtime to report "Started flows" or missing types. */
  deploy(flows: unknown[]): Promise<{ started: boolean; missingTypes: string[]; log: string }>;
  stop(): Promise<void>;
}

/** Parses "Waiting for missing types to be registered:" and its " - type" lines. */
export function missingTypesIn(log: string): string[] {
  const out: string[] = [];
  const at = log.lastIndexOf('Waiting for missing types');
  if (at < 0) return out;
  for (const line of log.slice(at).split('\n').slice(1)) {
    const m = /\[info\]\s+-\s+(\S.*?)\s*(\(provided by.*)?$/.exec(line);
    if (!m) break;
    out.push(m[1]);
  }
  return out;
}

/** Starts Node-RED 4.1 (this repository's node_modules/node-red) on `userDir`. */
export async function startInstalledNodeRed(userDir: string, opts: { startTimeoutMs?: number } = {}): Promise<RunningNodeRed> {
  const port = await freePort();
  const redJs = require.resolve('node-red/red.js', { paths: [repoRoot] });
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [redJs, '-u', userDir, '-p', String(port), '-s', path.join(userDir, 'settings.js')], {
    cwd: userDir,
    env: { ...process.env, NODE_RED_ENABLE_PROJECTS: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (d: Buffer): void => {
    output += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const request: RunningNodeRed['request'] = (method, urlPath, body, headers) => httpRequest(`${url}${urlPath}`, method, body, headers);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited early:\n${output}`);
    if (/Started flows|Waiting for missing types|Error loading flows/.test(output)) {
      const ok = await request('GET', '/settings').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Node-RED did not start within ${opts.startTimeoutMs ?? 30_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    port,
    pid: child.pid,
    logs: () => output,
    request,
    async deploy(flows) {
      const from = output.length;
      const r = await request('POST', '/flows', flows, { 'Node-RED-API-Version': 'v1', 'Node-RED-Deployment-Type': 'full' });
      if (r.status !== 204 && r.status !== 200) throw new Error(`deploy failed: HTTP ${r.status} ${r.body}`);
      const end = Date.now() + 15_000;
      while (Date.now() < end) {
        const log = output.slice(from);
        if (/Waiting for missing types/.test(log)) {
          await new Promise((res) => setTimeout(res, 200)); // let the list of types arrive
          const full = output.slice(from);
          return { started: false, missingTypes: missingTypesIn(full), log: full };
        }
        if (/Started flows/.test(log)) return { started: true, missingTypes: [], log };
        if (child.exitCode !== null) throw new Error(`Node-RED exited during the deploy:\n${log}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`no "Started flows" within 15 s of the deploy:\n${output.slice(from)}`);
    },
    stop,
  };
}
