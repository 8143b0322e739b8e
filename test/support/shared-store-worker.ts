/**
 * A separate OS process standing in for one Node-RED instance: it sends chat
 * requests to one provider account through a SharedLimiter (Redis-backed), and
 * reports to its parent over IPC.
 *
 * Parent -> worker: {cmd: 'run', jobs} | {cmd: 'stop'}
 * Worker -> parent: {type: 'ready', state} | {type: 'state', state}
 *                   | {type: 'done', resolved, rejected, doubleSettled, statuses, counts}
 *                   | {type: 'stopped'}
 * Configuration comes in SHARED_STORE_WORKER (JSON): {redisUrl, accountId,
 * providerUrl, apiKey, rpm, maxConcurrent, minuteMs, fallbackShare?}.
 */
import http from 'node:http';
import { SharedLimiter, rateLimitOptions } from '../../engine/shared-store';

interface WorkerConfig {
  redisUrl: string;
  accountId: string;
  providerUrl: string;
  apiKey: string;
  rpm: number;
  maxConcurrent: number;
  minuteMs: number;
  fallbackShare?: number;
}

const cfg = JSON.parse(process.env.SHARED_STORE_WORKER || '{}') as WorkerConfig;
const send = (m: unknown) => process.send?.(m);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const target = new URL(`${cfg.providerUrl}/chat/completions`);
const body = JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: 'hello' }] });

function call(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${cfg.apiKey}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const limiter = new SharedLimiter({
  accountId: cfg.accountId,
  redis: cfg.redisUrl,
  limits: rateLimitOptions({ rpm: cfg.rpm, maxConcurrent: cfg.maxConcurrent, minuteMs: cfg.minuteMs }),
  fallbackShare: cfg.fallbackShare,
  connectTimeoutMs: 3000,
  readyTimeoutMs: 2000,
  retryMs: 200,
  rejoinSettleMs: 1500,
  connection: { retryMinMs: 20, retryMaxMs: 300 },
});
limiter.on('error', () => {
  /* reported through state changes */
});
limiter.on('state', (state: string) => send({ type: 'state', state }));

async function run(jobs: number): Promise<void> {
  const settledCount = new Map<number, number>();
  const statuses: Record<string, number> = {};
  let resolved = 0;
  let rejected = 0;
  const all: Promise<void>[] = [];
  for (let i = 0; i < jobs; i++) {
    settledCount.set(i, 0);
    const mark = () => settledCount.set(i, (settledCount.get(i) ?? 0) + 1);
    all.push(
      limiter.schedule({ priority: i % 2 === 0 ? 4 : 6 }, call).then(
        (status) => {
          mark();
          resolved++;
          statuses[status] = (statuses[status] ?? 0) + 1;
        },
        () => {
          mark();
          rejected++;
        },
      ),
    );
  }
  await Promise.all(all);
  // Let any late second settlement show up before reporting.
  await new Promise((r) => setTimeout(r, 50));
  const doubleSettled = [...settledCount.values()].filter((n) => n !== 1).length;
  send({ type: 'done', resolved, rejected, doubleSettled, statuses, counts: limiter.counts() });
}

process.on('message', (m: { cmd: string; jobs?: number }) => {
  if (m.cmd === 'run') void run(m.jobs ?? 0);
  else if (m.cmd === 'stop') {
    void limiter.stop().then(() => {
      agent.destroy();
      send({ type: 'stopped' });
      process.disconnect?.();
    });
  }
});

void limiter.waitForState('connected', 3000).then(() => send({ type: 'ready', state: limiter.state }));
