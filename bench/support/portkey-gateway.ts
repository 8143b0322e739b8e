/**
 * Starts the open-source Portkey AI gateway (`@portkey-ai/gateway`, a dev
 * dependency) as a child process on 127.0.0.1 and a free port, for side-by-side
 * latency comparisons. Requests reach an OpenAI-compatible upstream through the
 * headers from `portkeyHeaders()` (provider "openai" with a custom host;
 * 127.0.0.1 is a trusted custom host by default).
 *
 * The package's postinstall step (patch-package) is not run in this repository;
 * the published build starts and proxies without it (the patch concerns retry
 * timeouts, which these comparisons do not use).
 */
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';

export interface PortkeyGateway {
  /** http://127.0.0.1:<port>/v1 */
  url: string;
  port: number;
  pid: number | null;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(1000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Headers that route a request through Portkey to an OpenAI-compatible base URL (ending in /v1). */
export function portkeyHeaders(upstreamBaseUrl: string, apiKey: string): Record<string, string> {
  return {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': upstreamBaseUrl,
    authorization: `Bearer ${apiKey}`,
  };
}

export function portkeyEntry(): string {
  const pkg = require.resolve('@portkey-ai/gateway/package.json');
  return path.join(path.dirname(pkg), 'build', 'start-server.js');
}

export async function startPortkeyGateway(opts: { port?: number; startTimeoutMs?: number } = {}): Promise<PortkeyGateway> {
  const port = opts.port ?? (await freePort());
  const entry = portkeyEntry();
  const child: ChildProcess = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let output = '';
  const keep = (d: Buffer) => {
    if (output.length < 8000) output += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      r();
    }),
  );
  const killOnExit = () => child.pid !== undefined && !exited && process.kill(child.pid, 'SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (exited || child.pid === undefined) return;
    process.kill(child.pid, 'SIGTERM');
    const t = setTimeout(() => !exited && child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 3000);
    await exit;
    clearTimeout(t);
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`Portkey gateway exited at start: ${output.split(String.fromCharCode(27)).join('').slice(-2000)}`);
    if ((await get(`http://127.0.0.1:${port}/`)) === 200) {
      return { url: `http://127.0.0.1:${port}/v1`, port, pid: child.pid ?? null, stop };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`Portkey gateway did not answer within the start timeout: ${output.slice(-2000)}`);
}
