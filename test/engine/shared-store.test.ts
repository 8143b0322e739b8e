import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import Bottleneck from 'bottleneck';
import {
  rateLimitOptions,
  scaleLimits,
  clusteredLimiterOptions,
  redisClientOptions,
  displayRedisUrl,
  RedisConnectionManager,
  SharedLimiter,
  type SharedStoreState,
} from '../../engine/shared-store';
import { startRedisServer, redisAvailable, type RedisServerHandle } from '../support/redis-server';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { distRoot } from '../support/paths';
import { sleep, waitFor } from '../support/ports';

describe('shared store: limiter options', () => {
  it('never allows more than rpm starts in a sliding minute (burst + refill <= rpm)', () => {
    for (const rpm of [1, 5, 40, 60, 500, 3000]) {
      const o = rateLimitOptions({ rpm, minuteMs: 60_000 });
      const perMinute = Math.floor(60_000 / (o.reservoirIncreaseInterval as number)) + 1; // grid points in a closed minute
      assert.ok((o.reservoir as number) + perMinute - 1 <= rpm, `rpm ${rpm}: burst ${o.reservoir} + ${perMinute - 1} refills`);
      assert.equal(o.reservoirIncreaseMaximum, o.reservoir);
      if (rpm >= 40) assert.ok((60_000 / (o.reservoirIncreaseInterval as number)) + (o.reservoir as number) >= 0.95 * rpm, `rpm ${rpm} keeps >= 95 % throughput`);
    }
    const scaled = rateLimitOptions({ rpm: 60, maxConcurrent: 3, minuteMs: 3000 });
    assert.ok((scaled.heartbeatInterval as number) <= (scaled.reservoirIncreaseInterval as number) / 4 + 1);
    assert.deepEqual(rateLimitOptions({}), {});
  });

  it('scales limits for the local fallback share', () => {
    const o = scaleLimits(rateLimitOptions({ rpm: 60, maxConcurrent: 5 }), 0.5);
    assert.equal(o.maxConcurrent, 2);
    assert.ok((o.reservoirIncreaseInterval as number) >= 2 * (rateLimitOptions({ rpm: 60 }).reservoirIncreaseInterval as number));
    assert.ok((o.reservoir as number) >= 1);
  });

  it('builds clustered options with a shared id, no clearing, and the ioredis constructor', () => {
    const o = clusteredLimiterOptions({ redisUrl: 'redis://u:pw@10.0.0.2:6380/2', accountId: 'nvidia-1', rpm: 40, maxConcurrent: 5 });
    assert.equal(o.id, 'llm-router:nvidia-1');
    assert.equal(o.datastore, 'ioredis');
    assert.equal(o.clearDatastore, false);
    assert.equal(o.maxConcurrent, 5);
    assert.equal(typeof o.Redis, 'function');
    assert.equal(o.clientOptions.enableOfflineQueue, false);
    assert.deepEqual(
      { host: o.clientOptions.host, port: o.clientOptions.port, password: o.clientOptions.password, db: o.clientOptions.db },
      { host: '10.0.0.2', port: 6380, password: 'pw', db: 2 },
    );
    assert.throws(() => redisClientOptions('http://x'), /redis:\/\//);
    assert.throws(() => clusteredLimiterOptions({ redisUrl: 'redis://x', accountId: '' }), /accountId/);
    assert.ok(!displayRedisUrl('redis://u:secretpw@h:1').includes('secretpw'));
  });
});

const redis = redisAvailable();

describe('shared store against a real redis-server', { skip: redis.ok ? false : redis.reason }, () => {
  let server: RedisServerHandle;
  let sim: ProviderSimulator;
  const workers = new Set<ChildProcess>();
  const TIME_SCALE = 0.05;
  const RPM = 60;
  const CONCURRENCY = 3;

  before(async () => {
    server = await startRedisServer();
    sim = await startProviderSimulator({
      timeScale: TIME_SCALE,
      accounts: [
        { key: 'sk-shared-a', rpm: RPM, concurrency: CONCURRENCY, latencyMs: 150 },
        { key: 'sk-shared-b', rpm: RPM, concurrency: CONCURRENCY, latencyMs: 150 },
      ],
    });
  });

  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.pid) process.kill(w.pid, 'SIGKILL');
    await sim?.close();
    await server?.stop();
  });

  it('bottleneck 2.19.5 clusters over ioredis 6: two limiters on one id share maxConcurrent', async () => {
    const id = `probe-${Date.now()}`;
    const a = new Bottleneck(clusteredLimiterOptions({ redisUrl: server.url, accountId: id, maxConcurrent: 2 }));
    const b = new Bottleneck(clusteredLimiterOptions({ redisUrl: server.url, accountId: id, maxConcurrent: 2 }));
    await Promise.all([a.ready(), b.ready()]);
    let cur = 0;
    let max = 0;
    const job = () =>
      new Promise<void>((r) => {
        cur++;
        max = Math.max(max, cur);
        setTimeout(() => {
          cur--;
          r();
        }, 20);
      });
    await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).schedule(job)));
    assert.equal(max, 2);
    await Promise.all([a.disconnect(false), b.disconnect(false)]);
  });

  it('tracks the connection: connected, local-fallback when Redis stops, connected again when it returns', async () => {
    const m = new RedisConnectionManager(server.url, { retryMinMs: 20, retryMaxMs: 200 });
    const seen: SharedStoreState[] = [];
    m.on('state', (s: SharedStoreState) => seen.push(s));
    m.on('error', () => {});
    try {
      assert.equal(await m.whenConnected(3000), true);
      await server.stop();
      await waitFor(() => m.state === 'local-fallback', 3000, 10, 'local-fallback');
      await assert.rejects(m.client.ping(), 'commands fail fast while Redis is away');
      await server.restart();
      assert.equal(await m.whenConnected(5000), true);
      assert.equal(await m.client.ping(), 'PONG');
      assert.deepEqual(seen, ['connected', 'local-fallback', 'connected']);
    } finally {
      await m.close();
    }
    assert.equal(m.state, 'closed');
    assert.equal(m.client.status, 'end');
  });

  it('falls back to a local limiter when Redis is unreachable at start, holding jobs until then', async () => {
    const dead = new SharedLimiter({ accountId: 'nowhere', redis: 'redis://127.0.0.1:1', limits: rateLimitOptions({ maxConcurrent: 1 }), connectTimeoutMs: 200 });
    try {
      assert.equal(dead.state, 'connecting');
      const results = await Promise.all([dead.schedule(() => 1), dead.schedule({ priority: 1 }, (x: number) => x * 2, 21)]);
      assert.deepEqual(results, [1, 42]);
      assert.equal(dead.state, 'local-fallback');
      await assert.rejects(dead.schedule(() => Promise.reject(new Error('boom'))), /boom/);
      assert.equal(dead.counts().startedLocal, 3);
    } finally {
      await dead.stop();
    }
    await assert.rejects(dead.schedule(() => 1), /stopped/);
  });

  it("passes bottleneck's own drops through without falling back (highWater 0, OVERFLOW)", async () => {
    const l = new SharedLimiter({
      accountId: `drop-${Date.now()}`,
      redis: server.url,
      limits: { maxConcurrent: 1, highWater: 0, strategy: Bottleneck.strategy.OVERFLOW },
    });
    try {
      assert.equal(await l.waitForState('connected', 3000), true);
      let release: () => void = () => {};
      const first = l.schedule(() => new Promise<string>((r) => (release = () => r('first'))));
      await waitFor(() => l.running() === 1, 3000, 5, 'first job running');
      await assert.rejects(l.schedule(() => 'second'), (e: unknown) => e instanceof Bottleneck.BottleneckError);
      assert.equal(l.state, 'connected');
      release();
      assert.equal(await first, 'first');
      assert.equal(l.counts().startedLocal, 0);
    } finally {
      await l.stop();
    }
  });

  // --- two OS processes sharing one account ----------------------------------

  type WorkerMsg = { type: string; [k: string]: any };
  function startWorker(accountId: string, apiKey: string, extra: Record<string, unknown> = {}) {
    const inbox: WorkerMsg[] = [];
    const child = fork(path.join(distRoot, 'test', 'support', 'shared-store-worker.js'), [], {
      env: {
        ...process.env,
        SHARED_STORE_WORKER: JSON.stringify({
          redisUrl: server.url,
          accountId,
          providerUrl: sim.url,
          apiKey,
          rpm: RPM,
          maxConcurrent: CONCURRENCY,
          minuteMs: sim.minuteMs,
          ...extra,
        }),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    workers.add(child);
    child.on('message', (m: WorkerMsg) => inbox.push(m));
    const next = (type: string, timeoutMs: number, pred: (m: WorkerMsg) => boolean = () => true): Promise<WorkerMsg> =>
      waitFor<WorkerMsg | null>(
        () => {
          const i = inbox.findIndex((m) => m.type === type && pred(m));
          return i >= 0 ? inbox.splice(i, 1)[0] : null;
        },
        timeoutMs,
        10,
        `worker message ${type}`,
      ) as Promise<WorkerMsg>;
    const stop = async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ cmd: 'stop' });
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
      workers.delete(child);
    };
    return { child, inbox, next, stop };
  }

  it('two processes sharing one account stay within its rpm and concurrency (counted by the upstream)', async () => {
    const key = 'sk-shared-a';
    const w1 = startWorker('acct-a', key);
    const w2 = startWorker('acct-a', key);
    try {
      assert.equal((await w1.next('ready', 5000)).state, 'connected');
      assert.equal((await w2.next('ready', 5000)).state, 'connected');
      sim.resetStats();
      const t0 = Date.now();
      const JOBS = 45; // 90 in all: 1.5 minutes of the account's rpm
      w1.child.send({ cmd: 'run', jobs: JOBS });
      w2.child.send({ cmd: 'run', jobs: JOBS });
      const [d1, d2] = await Promise.all([w1.next('done', 20_000), w2.next('done', 20_000)]);
      const elapsed = Date.now() - t0;
      const st = sim.stats(key);
      for (const d of [d1, d2]) {
        assert.equal(d.resolved + d.rejected, JOBS);
        assert.equal(d.doubleSettled, 0);
        assert.ok(d.counts.startedClustered === JOBS, `every job ran through the clustered limiter: ${JSON.stringify(d.counts)}`);
      }
      assert.equal(st.rpmViolations, 0, `rpm violations: ${JSON.stringify(st)}`);
      assert.equal(st.concurrencyViolations, 0, `concurrency violations: ${JSON.stringify(st)}`);
      assert.equal(st.requests, 2 * JOBS);
      assert.ok(st.maxConcurrentSeen <= CONCURRENCY);
      // Combined capacity is used: the upstream saw (nearly) a full minute's worth in some window,
      // and the whole run took about as long as rpm allows, not twice as long.
      assert.ok(st.maxRequestsInWindow >= 0.85 * RPM, `max requests in a window: ${st.maxRequestsInWindow}`);
      const idealMs = ((2 * JOBS) / RPM) * sim.minuteMs;
      assert.ok(elapsed < idealMs * 1.6, `took ${elapsed} ms for an ideal ${Math.round(idealMs)} ms`);
    } finally {
      await Promise.all([w1.stop(), w2.stop()]);
    }
  });

  it('stopping Redis mid-run loses no job: both processes fall back to local limiters and come back', async () => {
    const key = 'sk-shared-b';
    const w1 = startWorker('acct-b', key, { fallbackShare: 0.5 });
    const w2 = startWorker('acct-b', key, { fallbackShare: 0.5 });
    try {
      assert.equal((await w1.next('ready', 5000)).state, 'connected');
      assert.equal((await w2.next('ready', 5000)).state, 'connected');
      sim.resetStats();
      const JOBS = 40;
      w1.child.send({ cmd: 'run', jobs: JOBS });
      w2.child.send({ cmd: 'run', jobs: JOBS });
      await waitFor(() => sim.stats(key).requests >= 20, 10_000, 10, '20 requests through Redis');
      const before = sim.stats(key);
      await server.stop();
      await Promise.all([w1.next('state', 5000, (m) => m.state === 'local-fallback'), w2.next('state', 5000, (m) => m.state === 'local-fallback')]);
      await sleep(sim.minuteMs / 3);
      await server.restart();
      await Promise.all([w1.next('state', 8000, (m) => m.state === 'connected'), w2.next('state', 8000, (m) => m.state === 'connected')]);
      const [d1, d2] = await Promise.all([w1.next('done', 30_000), w2.next('done', 30_000)]);
      for (const d of [d1, d2]) {
        assert.equal(d.resolved + d.rejected, JOBS, 'every job settled');
        assert.equal(d.doubleSettled, 0, 'no job settled twice');
        assert.equal(d.rejected, 0, 'no job failed because Redis went away');
        assert.equal(d.counts.startedClustered + d.counts.startedLocal, JOBS, `each job ran once: ${JSON.stringify(d.counts)}`);
      }
      assert.ok(d1.counts.startedLocal + d2.counts.startedLocal > 0, 'some jobs ran on the local fallback');
      assert.equal(before.rpmViolations + before.concurrencyViolations, 0, 'no violation while shared through Redis');
      const st = sim.stats(key);
      assert.equal(st.requests, 2 * JOBS, 'each job reached the upstream exactly once');
      assert.equal(st.concurrencyViolations, 0, `concurrency across the switches: ${JSON.stringify(st)}`);
    } finally {
      await Promise.all([w1.stop(), w2.stop()]);
    }
  });
});
