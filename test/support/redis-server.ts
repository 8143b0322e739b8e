/**
 * A throw-away redis-server for tests: 127.0.0.1, a free port, no persistence.
 * Stopped by pid (never by name). An exit hook kills it if a test forgets, so no
 * redis-server outlives the test process, and the child does not keep the
 * event loop alive by itself.
 */
import net from 'node:net';
import os from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, sleep } from './ports';
import { requireBinary } from './services';

export interface RedisServerHandle {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** SIGTERM and wait for the process to exit (idempotent). */
  stop(): Promise<void>;
  /** SIGKILL right away (idempotent, synchronous). */
  kill(): void;
  /** Starts a fresh server on the same port (after stop/kill; stops a running one first). */
  restart(): Promise<void>;
  /** Current pid, or null when not running. */
  pid(): number | null;
}

/** Result of `redisAvailable()`: use `reason` with `t.skip` / `describe(..., { skip })`. */
export function redisAvailable(): { ok: true; path: string } | { ok: false; reason: string } {
  return requireBinary('redis-server');
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of running) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** Resolves true when `PING` answers `+PONG` on the port. */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) finish(buf.startsWith('+PONG'));
    });
    sock.on('error', () => finish(false));
  });
}

export async function startRedisServer(): Promise<RedisServerHandle> {
  const bin = redisAvailable();
  if (!bin.ok) throw new Error(bin.reason);
  installExitHook();
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const c = spawn(
      bin.path,
      ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--port', String(port), '--dir', os.tmpdir(), '--loglevel', 'warning', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const collect = (d: Buffer) => {
      if (output.length < 4000) output += d.toString();
    };
    c.stdout?.on('data', collect);
    c.stderr?.on('data', collect);
    running.add(c);
    child = c;
    exited = new Promise((resolve) => {
      c.once('exit', () => {
        running.delete(c);
        if (child === c) child = null;
        resolve();
      });
    });
    c.unref();
    (c.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (c.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      if (child !== c) throw new Error(`redis-server exited at start: ${output.trim()}`);
      if (await ping(port)) return;
      await sleep(20);
    }
    c.kill('SIGKILL');
    throw new Error(`redis-server did not answer on port ${port}: ${output.trim()}`);
  };

  const handle: RedisServerHandle = {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => (child && child.pid !== undefined ? child.pid : null),
    kill: () => {
      if (child && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    },
    stop: async () => {
      const c = child;
      if (!c || c.pid === undefined) return;
      try {
        process.kill(c.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => {
        try {
          if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, 3000);
      await exited;
      clearTimeout(timer);
    },
    restart: async () => {
      await handle.stop();
      await launch();
    },
  };
  await launch();
  return handle;
}
