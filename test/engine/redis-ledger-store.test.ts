import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RedisLedgerStore } from '../../engine/ledger/redis-ledger-store';
import { UsageLedger, BUCKET_MS } from '../../engine/ledger/usage-ledger';
import { RedisConnectionManager } from '../../engine/shared-store';
import { startRedisServer, redisAvailable, type RedisServerHandle } from '../support/redis-server';
import { waitFor } from '../support/ports';
import { dayKey } from '../../engine/time/zoned';

const redis = redisAvailable();
const DAY = 24 * 3600 * 1000;
const now = new Date();
// Two days ago at 12:00 UTC (20:00 in Asia/Shanghai): recent enough to be kept.
const T0 = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 2, 12, 0, 0);
const D0 = dayKey(T0, 'UTC');
const D1 = dayKey(T0 + DAY, 'UTC');

describe('RedisLedgerStore against a real redis-server', { skip: redis.ok ? false : redis.reason }, () => {
  let server: RedisServerHandle;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('two instances share one ledger: rows sum both, per day in the timezone', async () => {
    // Two connection managers = two Node-RED instances.
    const s1 = new RedisLedgerStore({ redis: server.url, keyPrefix: 'share' });
    const m2 = new RedisConnectionManager(server.url);
    const s2 = new RedisLedgerStore({ redis: m2, keyPrefix: 'share' });
    try {
      await waitFor(() => s1.state === 'connected' && s2.state === 'connected', 3000);
      const a = new UsageLedger(s1);
      const b = new UsageLedger(s2);
      await a.record({ time: T0, provider: 'nvidia-1', model: 'DeepSeek-V3', promptTokens: 100, completionTokens: 50, usd: 0.5 });
      await b.record({ time: T0 + 60_000, provider: 'nvidia-2', model: 'DeepSeek-V3', promptTokens: 10, completionTokens: 5, usd: 0.25, quota: 7 });
      await b.record({ time: T0 + 5 * 60_000, provider: 'nvidia-1', model: 'DeepSeek-V3', totalTokens: 1000 });
      await a.record({ time: T0 + 4 * 3600_000 + 1, provider: 'hunyuan', model: 'hunyuan-turbos', promptTokens: 3 }); // next day in Shanghai
      const rows = await b.rows(T0 - DAY, T0 + 2 * DAY, 'Asia/Shanghai');
      assert.deepEqual(rows, [
        { day: D0, model: 'DeepSeek-V3', requests: 3, promptTokens: 110, completionTokens: 55, totalTokens: 1165, quota: 7, usd: 0.75 },
        { day: D1, model: 'hunyuan-turbos', requests: 1, promptTokens: 3, completionTokens: 0, totalTokens: 3, quota: 0, usd: 0 },
      ]);
      const buckets = await s1.range(T0, T0 + BUCKET_MS);
      assert.equal(buckets.length, 2, 'one bucket per provider and model');
      assert.deepEqual(
        buckets.map((x) => x.provider).sort(),
        ['nvidia-1', 'nvidia-2'],
      );
      const ttl = await m2.client.pttl(`share:ledger:b:${Math.floor(T0 / BUCKET_MS) * BUCKET_MS}`);
      assert.ok(ttl > 0, 'buckets expire');
    } finally {
      await s1.close();
      await s2.close();
      await m2.close();
    }
  });

  it('clears a window for one model (case-insensitive) or for all', async () => {
    const s = new RedisLedgerStore({ redis: server.url, keyPrefix: 'clear' });
    try {
      await waitFor(() => s.state === 'connected', 3000);
      const l = new UsageLedger(s);
      await l.record({ time: T0, model: 'GLM-4-7', totalTokens: 5 });
      await l.record({ time: T0, model: 'kimi|k2', totalTokens: 6 });
      await l.record({ time: T0 + DAY, model: 'GLM-4-7', totalTokens: 7 });
      await l.clear(T0, T0 + BUCKET_MS, 'glm-4-7');
      let rows = await l.rows(T0 - DAY, T0 + 2 * DAY, 'UTC');
      assert.deepEqual(
        rows.map((r) => [r.day, r.model, r.totalTokens]),
        [
          [D0, 'kimi|k2', 6],
          [D1, 'GLM-4-7', 7],
        ],
      );
      await l.clear(T0 - DAY, T0 + 2 * DAY);
      rows = await l.rows(T0 - DAY, T0 + 2 * DAY, 'UTC');
      assert.deepEqual(rows, []);
    } finally {
      await s.close();
    }
  });

  it('keeps usage recorded while Redis is away and writes it when Redis returns', async () => {
    const m = new RedisConnectionManager(server.url, { retryMinMs: 20, retryMaxMs: 200 });
    m.on('error', () => {});
    const s = new RedisLedgerStore({ redis: m, keyPrefix: 'outage' });
    try {
      assert.equal(await m.whenConnected(3000), true);
      const l = new UsageLedger(s);
      await l.record({ time: T0, model: 'm', totalTokens: 1 });
      await server.stop();
      await waitFor(() => m.state === 'local-fallback', 3000);
      await l.record({ time: T0, model: 'm', totalTokens: 2 });
      await l.record({ time: T0 + BUCKET_MS, model: 'm', totalTokens: 4 });
      assert.equal(s.pendingBuckets(), 2);
      await assert.rejects(l.rows(T0, T0 + DAY, 'UTC'), /unreachable/);
      await server.restart(); // an empty Redis: the first write was lost with it
      await waitFor(() => m.state === 'connected', 5000);
      await waitFor(() => s.pendingBuckets() === 0, 3000, 20, 'pending usage written');
      const rows = await l.rows(T0, T0 + DAY, 'UTC');
      assert.deepEqual(rows.map((r) => [r.model, r.requests, r.totalTokens]), [['m', 2, 6]]);
    } finally {
      await s.close();
      await m.close();
    }
  });
});
