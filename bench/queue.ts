/**
 * Queue memory (SPEC §3: 10,000 queued requests in < 150 MB RSS).
 *
 * A fresh Node.js process runs Node-RED's runtime (node-red-node-test-helper)
 * with one llm-provider (1 concurrent request, against an upstream that never
 * answers) and an llm-call-with-fallback node with a queue of 20,000. 10,000
 * messages, each carrying a typical chat request (a system prompt and a
 * 600-character user message), are sent to the node: one is in flight, the rest
 * wait in the queue. Reported: the process's RSS with all of them queued (after
 * a GC), and, as the baseline, its RSS with the same flow loaded and idle.
 */
import http from 'node:http';
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';

import type { BenchResult } from './support/result';
export type { BenchResult };

const COUNT = 10_000;
const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;

/* eslint-disable @typescript-eslint/no-require-imports */
function nodeModule(type: string): unknown {
  const m = require(`../nodes/${type}/${type}`);
  return m && m.default ? m.default : m;
}

async function child(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  // an upstream that takes requests and never answers
  const held: http.ServerResponse[] = [];
  const upstream = http.createServer((req, res) => {
    req.resume();
    held.push(res);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  const helper = require('node-red-node-test-helper');
  helper.init(require.resolve('node-red'));
  const { providerRegistry } = require('../engine/providers') as typeof import('../engine/providers');
  const flow = [
    { id: 'tab', type: 'tab', label: 'queue' },
    { id: 'p', type: 'llm-provider', name: 'Busy', baseUrl: url, maxConcurrent: 1, timeout: 600 },
    { id: 'src', z: 'tab', type: 'helper', x: 100, y: 100, wires: [['call']] },
    { id: 'call', z: 'tab', type: 'llm-call-with-fallback', name: 'call', chain: [{ provider: 'p', model: 'm' }], maxQueue: 2 * COUNT, queueTimeout: 600, x: 300, y: 100, wires: [['o1'], ['o2']] },
    { id: 'o1', z: 'tab', type: 'helper', x: 500, y: 100 },
    { id: 'o2', z: 'tab', type: 'helper', x: 500, y: 140 },
  ];
  await helper.load([nodeModule('llm-provider'), nodeModule('llm-call-with-fallback')], flow, { p: { apiKey: 'sk-queue-bench' } });
  // The helper records every send/status call in spies (a real Node-RED does not): remove them.
  helper._sandbox?.restore();
  helper._logSpy?.restore();
  const src = helper.getNode('src');
  const proto = Object.getPrototypeOf(Object.getPrototypeOf(src));
  for (const m of ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send']) {
    for (let i = 0; i < 5 && typeof proto[m]?.restore === 'function'; i++) proto[m].restore();
  }
  const system = 'You are a helpful assistant. Answer briefly and precisely.';
  const text = 'Please summarise the following paragraph. '.repeat(15);
  for (let i = 0; i < 200; i++) JSON.stringify({ i, system, text }); // warm
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const idle = process.memoryUsage().rss;
  for (let i = 0; i < COUNT; i++) {
    src.send({ _msgid: `q${i}`, payload: { messages: [{ role: 'system', content: system }, { role: 'user', content: `${i}: ${text}` }] } });
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  const acc = providerRegistry.get('p');
  if (!acc || !helper.getNode('call')) throw new Error('queue bench: the flow did not start');
  const deadline = Date.now() + 30_000;
  while ((acc?.snapshot().queued ?? 0) < COUNT - 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const queued = acc?.snapshot().queued ?? 0;
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const rss = process.memoryUsage().rss;
  const heap = process.memoryUsage().heapUsed;
  process.send?.({ idle, rss, heap, queued, inFlight: held.length });
  await helper.unload();
  for (const r of held) r.destroy();
  upstream.close();
  process.exit(0);
}
/* eslint-enable @typescript-eslint/no-require-imports */

export async function run(): Promise<BenchResult[]> {
  const m = await new Promise<{ idle: number; rss: number; heap: number; queued: number; inFlight: number }>((resolve, reject) => {
    const c = fork(__filename, ['--bench-queue-child'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    c.once('message', (msg) => {
      const q = (msg as { queued?: number }).queued ?? 0;
      if (q < COUNT - 1) reject(new Error(`queue bench: only ${q} requests queued`));
      else resolve(msg as never);
    });
    c.once('error', reject);
    c.once('exit', (code) => code && reject(new Error(`queue bench child exited with ${code}`)));
  });
  return [
    { name: `queue: RSS with ${COUNT.toLocaleString('en-US')} requests queued in llm-call-with-fallback (Node-RED runtime, 1 in flight)`, value: mb(m.rss), unit: 'MB', baseline: mb(m.idle), target: '< 150 MB' },
    { name: 'queue: requests waiting in the queue at the time', value: m.queued, unit: 'requests', baseline: COUNT - 1 },
    { name: 'queue: V8 heap used with them queued (after GC)', value: mb(m.heap), unit: 'MB' },
    { name: 'queue: memory per queued request ((RSS - idle RSS) / queued)', value: Math.round((m.rss - m.idle) / Math.max(1, m.queued) / 10.24) / 100, unit: 'KB' },
  ];
}

if (require.main === module) {
  if (process.argv.includes('--bench-queue-child')) void child();
  else
    run().then(
      (rows) => {
        for (const r of rows) console.log(`${r.name}: ${r.value} ${r.unit}${r.baseline !== undefined ? ` (baseline ${r.baseline})` : ''}${r.target ? ` [target ${r.target}]` : ''}`);
      },
      (err) => {
        console.error(err);
        process.exitCode = 1;
      },
    );
}
