/**
 * Two real Node-RED processes behind one "load balancer" share one provider
 * account through a real redis-server (SPEC §5). Each runs the same flow:
 * http in -> llm-call-with-fallback (one llm-provider with the Redis URL) ->
 * http response (output 2 answers 503). The provider simulator (time-scaled: a
 * minute lasts 3 s) counts every request beyond the account's requests/min and
 * concurrency for the two instances together.
 *
 * 1. Saturating load on both: 0 violations, >= 90 % of the rate used.
 * 2. Redis stopped mid-run: both instances report 'local-fallback', every HTTP
 *    request still gets exactly one answer (a completion), and both are shared
 *    again once Redis returns.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { startNodeRed, type NodeRedInstance } from '../support/nodered-instance';
import { startRedisServer, redisAvailable, type RedisServerHandle } from '../support/redis-server';
import { sleep, waitFor } from '../support/ports';

const KEY = 'sk-sim-shared-e2e-5521';
const RPM = 40;
const CONC = 3;
const redis = redisAvailable();

function flowFor(simUrl: string, redisUrl: string, minuteS: number) {
  return {
    flows: [
      { id: 'tab', type: 'tab', label: 'shared limits' },
      {
        id: 'acct',
        type: 'llm-provider',
        name: 'NVIDIA-1',
        baseUrl: simUrl,
        rpm: RPM,
        maxConcurrent: CONC,
        window: minuteS,
        timeout: 20,
        redisUrl,
        localShare: 50,
        models: [],
      },
      { id: 'in', z: 'tab', type: 'http in', url: '/chat', method: 'post', x: 100, y: 100, wires: [['call']] },
      {
        id: 'call',
        z: 'tab',
        type: 'llm-call-with-fallback',
        name: 'call',
        chain: [{ provider: 'acct', model: 'kimi-k2-thinking' }],
        retries: 3,
        backoffBase: 20,
        backoffMax: 200,
        maxQueue: 10_000,
        queueTimeout: 60,
        x: 300,
        y: 100,
        wires: [['ok'], ['fail']],
      },
      { id: 'ok', z: 'tab', type: 'http response', statusCode: '', x: 500, y: 80, wires: [] },
      { id: 'fail', z: 'tab', type: 'http response', statusCode: '503', x: 500, y: 140, wires: [] },
    ],
    credentials: { acct: { apiKey: KEY } },
  };
}

describe('two Node-RED instances sharing one account through Redis', { skip: redis.ok ? false : redis.reason }, () => {
  let server: RedisServerHandle;
  let sim: ProviderSimulator;
  const nodes: NodeRedInstance[] = [];

  before(async () => {
    server = await startRedisServer();
    sim = await startProviderSimulator({ timeScale: 0.05, accounts: [{ key: KEY, name: 'NVIDIA-1', rpm: RPM, concurrency: CONC, latencyMs: 60 }] });
    const f = flowFor(sim.url, server.url, sim.minuteMs / 1000);
    nodes.push(...(await Promise.all([startNodeRed({ ...f, withDashboard: false }), startNodeRed({ ...f, withDashboard: false })])));
    await waitFor(async () => (await Promise.all(nodes.map((n) => shared(n)))).every((s) => s === 'connected'), 10_000, 100, 'both instances joined Redis');
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await sim?.close();
    await server?.stop();
  });

  async function shared(n: NodeRedInstance): Promise<string | null> {
    const r = await n.request('GET', '/llm-provider/status?id=acct');
    return r.status === 200 ? (r.json()[0]?.shared ?? null) : null;
  }

  function load(n: NodeRedInstance, count: number, tag: string): Promise<Array<{ status: number; body: string }>> {
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        n.request('POST', '/chat', { messages: [{ role: 'user', content: `${tag} ${i}` }] }).then(
          (r) => ({ status: r.status, body: r.body }),
          (e: Error) => ({ status: 0, body: e.message }),
        ),
      ),
    );
  }

  it('saturating load on both instances: 0 requests beyond rpm or concurrency, >= 90 % of the rate used', async () => {
    sim.resetStats();
    const N = 50; // 100 in all: 2.5 minutes of the account's rate
    const t0 = Date.now();
    const [a, b] = await Promise.all([load(nodes[0], N, 'a'), load(nodes[1], N, 'b')]);
    const elapsed = Date.now() - t0;
    const all = [...a, ...b];
    assert.deepEqual(
      all.filter((r) => r.status !== 200).slice(0, 3),
      [],
      'every request answered with a completion',
    );
    assert.ok(a.every((r) => r.body.startsWith('[NVIDIA-1/kimi-k2-thinking] a ')));
    const st = sim.stats(KEY);
    assert.equal(st.rpmViolations, 0, JSON.stringify(st));
    assert.equal(st.concurrencyViolations, 0, JSON.stringify(st));
    assert.equal(st.rejected429, 0);
    assert.equal(st.completed, 2 * N);
    assert.ok(st.maxConcurrentSeen <= CONC);
    assert.ok(st.maxRequestsInWindow >= 0.9 * RPM, `busiest window: ${st.maxRequestsInWindow} of ${RPM}`);
    // the pair ran at >= 90 % of the account's rate (the first minute's burst aside)
    const used = (2 * N) / ((elapsed / sim.minuteMs) * RPM);
    assert.ok(used >= 0.9, `used ${Math.round(used * 100)} % of the rate (${elapsed} ms for ${2 * N} requests)`);
  });

  it('Redis stopped mid-run: status local-fallback, every request answered exactly once, shared again afterwards', async () => {
    sim.resetStats();
    const N = 30;
    const runs = Promise.all([load(nodes[0], N, 'a'), load(nodes[1], N, 'b')]);
    await waitFor(() => sim.stats(KEY).completed >= 12, 15_000, 10, '12 answers through Redis');
    const before = sim.stats(KEY);
    await server.stop();
    await waitFor(async () => (await Promise.all(nodes.map((n) => shared(n)))).every((s) => s === 'local-fallback'), 5000, 50, 'both on local limits');
    await sleep(1500);
    await server.restart();
    await waitFor(async () => (await Promise.all(nodes.map((n) => shared(n)))).every((s) => s === 'connected'), 15_000, 100, 'both shared again');
    const [a, b] = await runs;
    const all = [...a, ...b];
    assert.equal(all.length, 2 * N);
    assert.deepEqual(
      all.filter((r) => r.status !== 200).slice(0, 3),
      [],
      'no request lost or failed because Redis went away',
    );
    const st = sim.stats(KEY);
    assert.equal(st.completed, 2 * N, 'each request reached the upstream and was answered once');
    assert.equal(before.rpmViolations + before.concurrencyViolations, 0, 'none beyond the limits while shared');
    for (const n of nodes) assert.match(n.logs(), /unreachable: using local limits \(50 % of the account\)/);
  });
});
