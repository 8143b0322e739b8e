/**
 * Watches a running Node-RED through its editor comms socket: debug messages (by debug node
 * name) and node statuses, the way the editor's debug sidebar sees them.
 */
import path from 'node:path';
import { repoRoot } from './paths';
import { waitFor } from './ports';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const WebSocket = require(require.resolve('ws', { paths: [path.join(repoRoot, 'node_modules', 'node-red')] }));

export interface DebugMsg {
  /** the debug node's id */
  id: string;
  /** the debug node's name */
  name: string;
  msg: any;
}

export interface CommsWatch {
  debug: DebugMsg[];
  /** every frame received so far, as text (to look for leaked secrets) */
  text(): string;
  /** the debug messages of the node named `name` */
  from(name: string): DebugMsg[];
  /** waits until the node named `name` has shown at least `n` messages, returns them */
  wait(name: string, n: number, timeoutMs?: number): Promise<DebugMsg[]>;
  close(): void;
}

/** Connects to ws://127.0.0.1:<port>/comms and subscribes to debug and status messages. */
export async function watchComms(port: number): Promise<CommsWatch> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/comms`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const debug: DebugMsg[] = [];
  let raw = '';
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    raw += text;
    let items: any;
    try {
      items = JSON.parse(text);
    } catch {
      return;
    }
    for (const item of Array.isArray(items) ? items : [items]) {
      if (item?.topic !== 'debug' || !item.data) continue;
      let msg: any = item.data.msg;
      try {
        msg = typeof msg === 'string' ? JSON.parse(msg) : msg;
      } catch {
        /* keep the text */
      }
      debug.push({ id: item.data.id, name: item.data.name, msg });
    }
  });
  ws.send(JSON.stringify({ subscribe: 'debug' }));
  ws.send(JSON.stringify({ subscribe: 'status/#' }));
  const from = (name: string): DebugMsg[] => debug.filter((d) => d.name === name);
  return {
    debug,
    text: () => raw,
    from,
    wait: (name, n, timeoutMs = 8000) =>
      waitFor(() => (from(name).length >= n ? from(name) : null), timeoutMs, 20, `${n} debug message(s) at "${name}"`) as Promise<DebugMsg[]>,
    close: () => ws.close(),
  };
}
