/**
 * Shared limits of one provider account through a real redis-server: two
 * ProviderAccounts with the same id stand for two Node-RED instances (each with
 * its own bottleneck clients and its own fallback executor), against the
 * time-scaled provider simulator, which counts every request beyond a limit.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ProviderAccount, ProviderRegistry } from '../../engine/providers';
import { FallbackExecutor } from '../../engine/fallback';
import { UsageLedger, MemoryLedgerStore } from '../../engine/ledger/usage-ledger';
import { RedisLedgerStore } from '../../engine/ledger/redis-ledger-store';
import { ClusteredAccountLimiter, useSharedLedger, sharedLedgerUrl, tokenBucketOptions } from '../../engine/shared-store';
import { startRedisServer, redisAvailable, type RedisServerHandle } from '../support/redis-server';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { sleep, waitFor } from '../support/ports';

describe('token bucket for tokens per window', () => {
  it('never lets more than tpm tokens start in a closed window', () => {
    for (const [tpm, w] of [
      [1000, 60_000],
      [100_000, 60_000],
      [50_000, 3000],
    ]) {
      const o = tokenBucketOptions(tpm, w);
      const points = Math.floor(w / (o.reservoirIncreaseInterval as number)) + 1;
      assert.ok((o.reservoir as number) + points * (o.reservoirIncreaseAmount as number) <= tpm, `tpm ${tpm}`);
      assert.ok((o.reservoirIncreaseMaximum as number) >= tpm * 0.2, 'a quarter of the window fits one request');
    }
  });
});

const redis = redisAvailable();

describe('shared provider limits against a real redis-server', { skip: redis.ok ? false : redis.reason }, () => {
  let server: RedisServerHandle;
  let sim: ProviderSimulator;
  const RPM = 40;
  const CONC = 3;
  const keys = { sat: 'sk-rsl-sat', pause: 'sk-rsl-pause', fail: 'sk-rsl-fail' };
  const open: Array<{ close(): Promise<void> }> = [];

  before(async () => {
    server = await startRedisServer();
    sim = await startProviderSimulator({
      timeScale: 0.05,
      accounts: [
        { key: keys.sat, name: 'shared-sat', rpm: RPM, concurrency: CONC, latencyMs: 60 },
        { key: keys.pause, name: 'shared-pause', rpm: null, concurrency: 5, latencyMs: 5 },
        { key: keys.fail, name: 'shared-fail', rpm: RPM, concurrency: CONC, latencyMs: 60 },
      ],
    });
  });
  after(async () => {
    for (const o of open.reverse()) await o.close().catch(() => undefined);
    await sim?.close();
    await server?.stop();
  });

  /** One "instance": its own account object (same id), registry and executor. */
  function instance(id: string, key: string, extra: Record<string, unknown> = {}) {
    const account = new ProviderAccount({
      id,
      name: id,
      baseUrl: sim.url,
      apiKey: key,
      limits: { rpm: RPM, maxConcurrent: CONC, windowMs: sim.minuteMs },
      timeoutMs: 5000,
      redisUrl: server.url,
      sharedStore: { connectTimeoutMs: 2000, rejoinSettleMs: 1500, retryMs: 200, connection: { retryMinMs: 20, retryMaxMs: 300 } },
      ...extra,
    });
    const registry = new ProviderRegistry();
    registry.register(account);
    const exec = new FallbackExecutor({ registry, priorities: null, ledger: null, queueTimeoutMs: 60_000, backoffBaseMs: 5, backoffMaxMs: 50 });
    const inst = {
      account,
      exec,
      limiter: account.sharedLimiter as ClusteredAccountLimiter,
      send: (n: number, tag: string) =>
        Promise.all(Array.from({ length: n }, (_, i) => exec.execute({ body: { messages: [{ role: 'user', content: `${tag} ${i}` }] }, route: [{ provider: id, model: 'm' }] }))),
      close: async () => {
        await exec.close();
        await account.close();
      },
    };
    open.push(inst);
    return inst;
  }

  it('two instances under saturating load: 0 requests beyond rpm or concurrency, the account used at nearly its full rate', async () => {
    const a = instance('acct-sat', keys.sat);
    const b = instance('acct-sat', keys.sat);
    assert.ok(a.limiter instanceof ClusteredAccountLimiter);
    assert.equal(await a.limiter.waitForState('connected', 3000), true);
    assert.equal(await b.limiter.waitForState('connected', 3000), true);
    assert.equal(a.account.snapshot().shared, 'connected');
    sim.resetStats();
    const N = 45; // 90 in all: more than two minutes' worth of the account
    const t0 = Date.now();
    const [ra, rb] = await Promise.all([a.send(N, 'a'), b.send(N, 'b')]);
    const elapsed = Date.now() - t0;
    const all = [...ra, ...rb];
    assert.equal(all.filter((o) => o.ok).length, 2 * N, `failures: ${JSON.stringify(all.filter((o) => !o.ok).slice(0, 2))}`);
    const st = sim.stats(keys.sat);
    assert.equal(st.rpmViolations, 0, JSON.stringify(st));
    assert.equal(st.concurrencyViolations, 0, JSON.stringify(st));
    assert.equal(st.rejected429, 0);
    assert.equal(st.requests, 2 * N);
    assert.ok(st.maxRequestsInWindow >= 0.9 * RPM, `max requests in a window: ${st.maxRequestsInWindow}`);
    // a full minute's worth per minute: 90 requests need ~2.3 scaled minutes, not 4.5
    assert.ok(elapsed <= ((2 * N) / (0.9 * RPM)) * sim.minuteMs + 1500, `took ${elapsed} ms`);
    const ca = a.limiter.sharedCounts();
    const cb = b.limiter.sharedCounts();
    assert.equal(ca.startedLocal + cb.startedLocal, 0);
    assert.ok(ca.startedShared > 0 && cb.startedShared > 0, 'both instances sent requests');
  });

  it("a 429's pause reaches every instance, also one that joins during the pause", async () => {
    const a = instance('acct-pause', keys.pause, { limits: { maxConcurrent: 5 } });
    const b = instance('acct-pause', keys.pause, { limits: { maxConcurrent: 5 } });
    await Promise.all([a.limiter.waitForState('connected', 3000), b.limiter.waitForState('connected', 3000)]);
    assert.equal(b.account.availability('m'), null);
    a.account.pause(1500);
    await waitFor(() => b.account.availability('m') === 'paused', 1000, 5, 'b paused');
    const r = await b.account.attempt('m', { body: { messages: [{ role: 'user', content: 'x' }] } });
    assert.deepEqual(r, { kind: 'skipped', reason: 'paused' });
    const c = instance('acct-pause', keys.pause, { limits: { maxConcurrent: 5 } });
    await c.limiter.waitForState('connected', 3000);
    assert.equal(c.account.availability('m'), 'paused', 'the pause key reaches a joining instance');
    await waitFor(() => b.account.availability('m') === null, 3000, 20, 'pause over');
    const ok = await b.account.attempt('m', { body: { messages: [{ role: 'user', content: 'x' }] } });
    assert.equal(ok.kind, 'ok');
  });

  it('Redis stopping mid-run: local limits (status local-fallback), every request answered once, shared again when it returns', async () => {
    const a = instance('acct-fail', keys.fail, { fallbackShare: 0.5 });
    const b = instance('acct-fail', keys.fail, { fallbackShare: 0.5 });
    await Promise.all([a.limiter.waitForState('connected', 3000), b.limiter.waitForState('connected', 3000)]);
    sim.resetStats();
    const N = 30;
    const runs = Promise.all([a.send(N, 'a'), b.send(N, 'b')]);
    await waitFor(() => sim.stats(keys.fail).requests >= 10, 10_000, 10, '10 requests through Redis');
    const shared = sim.stats(keys.fail);
    await server.stop();
    await waitFor(() => a.account.snapshot().shared === 'local-fallback' && b.account.snapshot().shared === 'local-fallback', 3000, 10, 'fallback');
    await sleep(sim.minuteMs / 2);
    await server.restart();
    await Promise.all([a.limiter.waitForState('connected', 8000), b.limiter.waitForState('connected', 8000)]);
    assert.equal(a.account.snapshot().shared, 'connected');
    const [ra, rb] = await runs;
    assert.equal([...ra, ...rb].filter((o) => o.ok).length, 2 * N, 'every request answered');
    assert.equal(sim.stats(keys.fail).completed, 2 * N, 'each exactly once upstream');
    assert.equal(shared.rpmViolations + shared.concurrencyViolations, 0, 'none beyond the limits while shared');
    const ca = a.limiter.sharedCounts();
    const cb = b.limiter.sharedCounts();
    assert.ok(ca.startedLocal + cb.startedLocal > 0, 'some requests ran on local limits');
    assert.ok(ca.switches >= 2 && cb.switches >= 2, 'both fell back and rejoined');
  });

  it('Redis unreachable at start: local limits with the whole account (no peers known)', async () => {
    const acc = new ProviderAccount({
      id: 'acct-nowhere',
      baseUrl: sim.url,
      apiKey: keys.pause,
      limits: { maxConcurrent: 2 },
      redisUrl: 'redis://127.0.0.1:1',
      sharedStore: { connectTimeoutMs: 200, connection: { retryMinMs: 50, retryMaxMs: 200 } },
    });
    open.push(acc);
    const lim = acc.sharedLimiter as ClusteredAccountLimiter;
    assert.equal(lim.state, 'connecting');
    assert.equal(acc.availability('m'), 'capacity', 'nothing starts before the store is known');
    assert.equal(await lim.waitForState('local-fallback', 2000), true);
    assert.equal(lim.fallbackShare, 1);
    assert.equal(acc.snapshot().shared, 'local-fallback');
    const r = await acc.attempt('m', { body: { messages: [{ role: 'user', content: 'x' }] } });
    assert.equal(r.kind, 'ok');
  });

  it('the ledger moves to Redis while an account uses it, with what was recorded before, and back to memory after', async () => {
    const ledger = new UsageLedger(new MemoryLedgerStore());
    const t = Date.UTC(2026, 10, 20, 10, 0, 0);
    await ledger.record({ time: t, model: 'glm-4', provider: 'p', promptTokens: 10, completionTokens: 5 });
    const use1 = useSharedLedger(server.url, ledger);
    const use2 = useSharedLedger(server.url, ledger);
    const other = useSharedLedger('redis://127.0.0.1:2', ledger);
    assert.equal(use1.bound, true);
    assert.equal(other.bound, false, 'the first URL keeps the ledger');
    assert.equal(sharedLedgerUrl(ledger), server.url);
    assert.ok(ledger.store instanceof RedisLedgerStore);
    await ledger.record({ time: t + 1000, model: 'glm-4', provider: 'p', promptTokens: 1, completionTokens: 1 });
    // another instance reading the same Redis
    const peer = new UsageLedger(new RedisLedgerStore({ redis: server.url }));
    await waitFor(async () => (await peer.rows(t - 1, t + 3_600_000, 'UTC'))[0]?.requests === 2, 3000, 20, 'peer sees both');
    const rows = await peer.rows(t - 1, t + 3_600_000, 'UTC');
    assert.deepEqual(
      rows.map((r) => [r.model, r.requests, r.totalTokens]),
      [['glm-4', 2, 17]],
    );
    await use1.release();
    assert.ok(ledger.store instanceof RedisLedgerStore, 'still one use left');
    await use2.release();
    await other.release();
    assert.ok(ledger.store instanceof MemoryLedgerStore);
    assert.equal(sharedLedgerUrl(ledger), null);
    await (peer.store as RedisLedgerStore).close();
  });
});
