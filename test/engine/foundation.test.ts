import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactText, redactValue, sanitizeError } from '../../engine/secrets/redact';
import { addDays, dayKey, startOfDay, assertTimeZone } from '../../engine/time/zoned';
import { UsageLedger } from '../../engine/ledger/usage-ledger';
import { LocalPriorityTable } from '../../engine/ledger/local-priorities';

test('redactText removes known secrets and bearer tokens', () => {
  const out = redactText('token abc123secret and Bearer zzzzzzzzzzzz and sk-ABCDEFGH12345', ['abc123secret']);
  assert.ok(!out.includes('abc123secret'));
  assert.ok(!out.includes('zzzzzzzzzzzz'));
  assert.ok(!out.includes('sk-ABCDEFGH12345'));
  const url = redactText('connect ECONNREFUSED redis://:hunter2pass@127.0.0.1:6379 and https://admin:pw123456@gw.local/api', []);
  assert.ok(!url.includes('hunter2pass') && !url.includes('pw123456'), url);
  assert.match(url, /redis:\/\/:\[redacted\]@127\.0\.0\.1:6379/);
});

test('sanitizeError drops axios config, headers and response bodies', () => {
  const axiosLike = Object.assign(new Error('Request failed with status code 500'), {
    name: 'AxiosError',
    code: 'ERR_BAD_RESPONSE',
    config: { headers: { Authorization: 'Bearer topsecret-token-1' } },
    response: { status: 500, data: { key: 'sk-channelkey-xyz' }, headers: {} },
    request: {},
  });
  const safe = sanitizeError(axiosLike, ['topsecret-token-1']);
  assert.equal(safe.status, 500);
  assert.equal(safe.code, 'ERR_BAD_RESPONSE');
  const dump = JSON.stringify(safe, Object.getOwnPropertyNames(safe));
  assert.ok(!dump.includes('topsecret-token-1'));
  assert.ok(!dump.includes('sk-channelkey-xyz'));
  assert.equal((safe as unknown as Record<string, unknown>).config, undefined);
});

test('redactValue masks key-like fields deeply', () => {
  const v = redactValue({ data: { id: 1, key: 'sk-real-channel-key', nested: [{ Authorization: 'x' }] } }, []);
  assert.equal(v.data.key, '[redacted]');
  assert.equal(v.data.nested[0].Authorization, '[redacted]');
  assert.equal(v.data.id, 1);
});

test('dayKey and startOfDay follow the timezone across DST', () => {
  assertTimeZone('Europe/Berlin');
  assert.throws(() => assertTimeZone('Mars/Base'), /unknown timezone/);
  // 2026-03-29 is the spring-forward day in Europe/Berlin: 23 hours long.
  const start = startOfDay('2026-03-29', 'Europe/Berlin');
  const next = startOfDay('2026-03-30', 'Europe/Berlin');
  assert.equal(next - start, 23 * 3600 * 1000);
  assert.equal(dayKey(start, 'Europe/Berlin'), '2026-03-29');
  assert.equal(dayKey(start - 1, 'Europe/Berlin'), '2026-03-28');
  assert.equal(addDays('2026-03-01', -1), '2026-02-28');
  assert.equal(dayKey(Date.UTC(2026, 0, 1, 17, 0), 'Asia/Shanghai'), '2026-01-02');
  assert.equal(dayKey(Date.UTC(2026, 0, 1, 18, 29), 'Asia/Kolkata'), '2026-01-01');
  assert.equal(dayKey(Date.UTC(2026, 0, 1, 18, 30), 'Asia/Kolkata'), '2026-01-02');
});

test('the ledger groups usage into days of the requested timezone', async () => {
  const ledger = new UsageLedger();
  const t = Date.UTC(2026, 0, 1, 17, 0); // 2026-01-02 01:00 in Shanghai, 2026-01-01 in UTC
  await ledger.record({ time: t, model: 'glm-4', promptTokens: 10, completionTokens: 5 });
  await ledger.record({ time: t + 60_000, model: 'glm-4', totalTokens: 7 });
  const sh = await ledger.rows(t - 86400_000, t + 86400_000, 'Asia/Shanghai');
  assert.deepEqual(sh.map((r) => [r.day, r.requests, r.totalTokens]), [['2026-01-02', 2, 22]]);
  const utc = await ledger.rows(t - 86400_000, t + 86400_000, 'UTC');
  assert.equal(utc[0].day, '2026-01-01');
});

test('local priorities: register keeps existing priority, 0 blocks routing', () => {
  const table = new LocalPriorityTable();
  table.register('nvidia-1', 'deepseek', 5);
  assert.equal(table.allows('nvidia-1', 'deepseek'), true);
  const change = table.setPriority('nvidia-1/deepseek', 0);
  assert.deepEqual(change, { id: 'nvidia-1/deepseek', oldPriority: 5, priority: 0 });
  table.register('nvidia-1', 'deepseek', 5);
  assert.equal(table.allows('nvidia-1', 'deepseek'), false);
  assert.throws(() => table.setPriority('nvidia-1/deepseek', 1.5), /integer/);
});
