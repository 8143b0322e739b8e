import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { OneApiClient, OneApiError, quotaToUsd } from '../../engine/oneapi/client';
import type { OneApiClientOptions, QuotaDataRow } from '../../engine/oneapi/types';
import { startOneApiSimulator, type OneApiSimulator, type SimFlavour } from '../../simulators/oneapi';
import { freePort } from '../support/ports';
import { CHANNEL_KEY_PREFIX, FLAVOURS, TOKEN, clientFlavour, dumpError, manyChannels } from '../support/oneapi-fixtures';

const opened: Array<{ close(): unknown }> = [];
after(async () => {
  for (const o of opened.reverse()) await o.close();
});

async function sim(flavour: SimFlavour, extra: Partial<Parameters<typeof startOneApiSimulator>[0]> = {}): Promise<OneApiSimulator> {
  const s = await startOneApiSimulator({ flavour, accessToken: TOKEN, userId: 1, channels: manyChannels(12), ...extra });
  opened.push(s);
  return s;
}

function client(s: OneApiSimulator, opts: Partial<OneApiClientOptions> = {}): OneApiClient {
  const c = new OneApiClient({ baseUrl: s.url, flavour: 'detect', accessToken: TOKEN, userId: 1, timeoutMs: 2000, ...opts });
  opened.push(c);
  return c;
}

async function rejectsWith(p: Promise<unknown>, code: string, status?: number): Promise<OneApiError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OneApiError, `expected OneApiError, got ${dumpError(e)}`);
    assert.equal(e.code, code, e.message);
    if (status !== undefined) assert.equal(e.status, status);
    return e;
  }
  assert.fail(`expected a ${code} error`);
}

const channelListCalls = (s: OneApiSimulator) => s.requests().filter((r) => r.method === 'GET' && r.path.startsWith('/api/channel/?'));

for (const flavour of FLAVOURS) {
  describe(`client against ${flavour}`, () => {
    test('detects the flavour and reads quota_per_unit and version from /api/status', async () => {
      const s = await sim(flavour, { quotaPerUnit: 250000, version: 'v9.9.9-test' });
      const c = client(s);
      assert.equal(await c.flavour(), clientFlavour(flavour));
      const st = await c.status();
      assert.deepEqual(st, { flavour: clientFlavour(flavour), version: 'v9.9.9-test', quotaPerUnit: 250000 });
      await c.flavour();
      const statusCalls = s.requests().filter((r) => r.path === '/api/status').length;
      assert.equal(statusCalls, 2, 'detection is done once and cached (status() itself reads once more)');
      assert.equal(s.requests().find((r) => r.path === '/api/status')?.headers.authorization, undefined, '/api/status is public: no token sent');
    });

    test('lists all 235 channels across pages with the compatibility algorithm', async () => {
      const s = await sim(flavour, { channels: manyChannels(235) });
      const c = client(s, { flavour: clientFlavour(flavour) });
      const list = await c.listChannels();
      assert.equal(list.length, 235);
      assert.deepEqual(
        list.map((ch) => ch.id).sort((a, b) => a - b),
        Array.from({ length: 235 }, (_, i) => i + 1),
      );
      const calls = channelListCalls(s).map((r) => new URL(r.path, 'http://x').searchParams);
      assert.ok(calls.every((q) => q.get('page_size') === '100'), 'page_size=100 always sent');
      assert.ok(calls.every((q) => q.get('id_sort') === 'true'), 'stable order while priorities change');
      assert.equal(calls[0].get('p'), '0');
      const pages = calls.map((q) => q.get('p'));
      if (flavour === 'one-api') assert.deepEqual(pages, Array.from({ length: 25 }, (_, i) => String(i)), 'fixed 10 per page: p=0..23 then [] at p=24');
      if (flavour === 'new-api-2025') assert.deepEqual(pages, ['0', '1', '2', '3']);
      if (flavour === 'new-api-2026') assert.deepEqual(pages, ['0', '2', '3'], '1-based: p=0 is page 1, then 2, 3 until total');
      for (const r of channelListCalls(s)) assert.match(r.path, /^\/api\/channel\/\?/, 'trailing slash');
    });

    test('normalises channels: null priority/weight -> 0, models split and trimmed, no key', async () => {
      const s = await sim(flavour, {
        channels: [
          { id: 7, name: 'nulls', models: [' glm-4 ', 'glm-4-air'], priority: null, weight: null, status: 3, key: `${CHANNEL_KEY_PREFIX}777777` },
          { id: 8, name: 'plain', models: ['kimi'], priority: 5, weight: 2, status: 1, key: `${CHANNEL_KEY_PREFIX}888888` },
        ],
      });
      const c = client(s);
      const list = (await c.listChannels()).sort((a, b) => a.id - b.id);
      assert.equal(list[0].priority, 0);
      assert.equal(list[0].weight, 0);
      assert.equal(list[0].status, 3);
      assert.deepEqual(list[0].models, ['glm-4', 'glm-4-air']);
      assert.equal(list[1].priority, 5);
      assert.equal(list[1].weight, 2);
      assert.ok(!JSON.stringify(list).includes(CHANNEL_KEY_PREFIX));
      const one = await c.getChannel(7);
      assert.equal(one.priority, 0);
      assert.equal(one.name, 'nulls');
    });

    test('priority 0 is written as a partial {id, priority: 0} body and reads back as 0', async () => {
      const s = await sim(flavour);
      const c = client(s);
      const res = await c.updateChannel(3, { priority: 0 }, { verify: true, old: 3 });
      assert.deepEqual(res, [{ id: 3, field: 'priority', old: 3, value: 0, dryRun: false, verified: true }]);
      const writes = s.writes();
      assert.equal(writes.length, 1);
      assert.equal(writes[0].method, 'PUT');
      assert.equal(writes[0].path, '/api/channel/');
      assert.deepEqual(writes[0].body, { id: 3, priority: 0 });
      assert.equal(s.channels().find((ch) => ch.id === 3)?.priority, 0);
      const both = await c.updateChannel(4, { priority: 2, weight: 0 });
      assert.deepEqual(s.writes()[1].body, { id: 4, priority: 2, weight: 0 });
      assert.deepEqual(
        both.map((r) => [r.field, r.value]),
        [
          ['priority', 2],
          ['weight', 0],
        ],
      );
    });

    test('enable/disable uses the status endpoint where it exists, else PUT {id,status}', async () => {
      const s = await sim(flavour);
      const c = client(s);
      const r1 = await c.setChannelEnabled(5, false, { verify: true });
      assert.deepEqual(r1, { id: 5, field: 'status', old: null, value: 2, dryRun: false, verified: true });
      await c.setChannelEnabled(5, true, { verify: true });
      assert.equal(s.channels().find((ch) => ch.id === 5)?.status, 1);
      const w = s.writes().map((x) => `${x.method} ${x.path} ${JSON.stringify(x.body)}`);
      if (flavour === 'new-api-2026') {
        assert.deepEqual(w, ['POST /api/channel/5/status {"status":2}', 'POST /api/channel/5/status {"status":1}']);
        assert.ok(!s.writes().some((x) => x.method === 'PUT'), 'never PUT status to a 2026 server');
      } else if (flavour === 'new-api-2025') {
        // first POST answers 404, the client falls back and remembers it
        assert.deepEqual(w, ['POST /api/channel/5/status {"status":2}', 'PUT /api/channel/ {"id":5,"status":2}', 'PUT /api/channel/ {"id":5,"status":1}']);
      } else {
        assert.deepEqual(w, ['PUT /api/channel/ {"id":5,"status":2}', 'PUT /api/channel/ {"id":5,"status":1}']);
      }
    });

    test('dry run sends no write, reports each intended write and marks results dryRun', async () => {
      const s = await sim(flavour);
      const lines: string[] = [];
      const c = client(s, { dryRun: true, onDryRun: (l) => lines.push(l) });
      const r = await c.updateChannel(2, { priority: 0 }, { old: 2 });
      assert.deepEqual(r, [{ id: 2, field: 'priority', old: 2, value: 0, dryRun: true }]);
      const st = await c.setChannelEnabled(2, false);
      assert.equal(st.dryRun, true);
      assert.equal(s.writes().length, 0);
      assert.ok(!s.requests().some((q) => q.method !== 'GET'));
      assert.equal(s.channels().find((ch) => ch.id === 2)?.priority, 2);
      assert.equal(lines.length, 2);
      assert.match(lines[0], /PUT \/api\/channel\/ \{"id":2,"priority":0\} \(was 2\)/);
      assert.ok(!lines.join('\n').includes(TOKEN));
    });

    test('usage reads: consume logs page to the end, log stat sums quota per model', async () => {
      const s = await sim(flavour);
      const now = Date.now();
      s.addUsage({ model: 'glm-4', time: now - 60_000, promptTokens: 2500, completionTokens: 500, requests: 25, channelId: 3 });
      s.addUsage({ model: 'kimi', time: now - 30_000, promptTokens: 700, completionTokens: 300, quota: 4000, requests: 130 });
      s.addUsage({ model: 'kimi', time: now - 3 * 86400_000, promptTokens: 1, completionTokens: 1, requests: 1 });
      const c = client(s);
      const start = Math.floor(now / 1000) - 3600;
      const end = Math.floor(now / 1000) + 60;
      const logs = await c.consumeLogs({ start, end });
      assert.equal(logs.length, 155);
      const glm = logs.filter((l) => l.model === 'glm-4');
      assert.equal(glm.reduce((a, l) => a + (l.promptTokens as number), 0), 2500);
      assert.equal(glm.reduce((a, l) => a + (l.completionTokens as number), 0), 500);
      assert.ok(glm.every((l) => l.channelId === 3));
      const logCalls = s.requests().filter((r) => r.path.startsWith('/api/log/?'));
      if (flavour === 'one-api') assert.equal(logCalls.length, 17, '0-based 10 per page: 16 pages then []');
      else {
        assert.equal(logCalls.length, 2, '1-based 100 per page until total');
        assert.equal(new URL(logCalls[0].path, 'http://x').searchParams.get('p'), '1');
      }
      assert.deepEqual(await c.logStat({ start, end, modelName: 'kimi' }), { quota: 4000 });
      assert.deepEqual(await c.logStat({ start, end }), { quota: 7000 });
      await rejectsWith(c.consumeLogs({ start, end, maxPages: 1 }), 'API_ERROR');
    });

    test('New-Api-User header: sent for new-api only, required by the 2025 server only', async () => {
      const s = await sim(flavour);
      await client(s, { userId: 1 }).listChannels();
      const sent = s.requests().filter((r) => r.path.startsWith('/api/channel/'));
      assert.ok(sent.every((r) => r.headers.authorization === `Bearer ${TOKEN}`));
      if (flavour === 'one-api') assert.ok(sent.every((r) => r.headers['new-api-user'] === undefined));
      else assert.ok(sent.every((r) => r.headers['new-api-user'] === '1'));
      const noUser = client(s, { userId: undefined, flavour: clientFlavour(flavour) });
      const wrongUser = client(s, { userId: 2, flavour: clientFlavour(flavour) });
      if (flavour === 'new-api-2025') {
        await rejectsWith(noUser.listChannels(), 'UNAUTHORIZED', 401);
        const e = await rejectsWith(wrongUser.listChannels(), 'UNAUTHORIZED', 401);
        assert.match(e.message, /New-Api-User/);
      } else {
        assert.equal((await noUser.listChannels()).length, 12);
        assert.equal((await wrongUser.listChannels()).length, 12);
      }
    });

    test('error classes: wrong token, low role, unknown channel, unknown route, 429', async () => {
      const s = await sim(flavour, { users: [{ token: 'commonUserToken0000000000000000', id: 2, role: 1 }] });
      const wrong = client(s, { accessToken: 'wrongToken1234567890abcdef', flavour: clientFlavour(flavour) });
      const e1 = await rejectsWith(wrong.listChannels(), 'UNAUTHORIZED', flavour === 'new-api-2026' ? 401 : 200);
      assert.ok(!dumpError(e1).includes('wrongToken1234567890abcdef'));
      const common = client(s, { accessToken: 'commonUserToken0000000000000000', userId: 2, flavour: clientFlavour(flavour) });
      await rejectsWith(common.listChannels(), 'FORBIDDEN', flavour === 'new-api-2026' ? 403 : 200);
      const c = client(s);
      await rejectsWith(c.getChannel(999), 'NOT_FOUND', 200);
      if (flavour === 'one-api') await rejectsWith(c.quotaData(1, 2), 'NOT_FOUND', 404);
      else await rejectsWith(c.userDashboard(), 'API_ERROR', 200);
      s.setMode({ rateLimited: true });
      await rejectsWith(c.listChannels(), 'RATE_LIMITED', 429);
      s.setMode({ rateLimited: false });
      assert.equal((await c.listChannels()).length, 12);
    });

    test('PUT to an unknown id: an error on 2026, caught by read-back verification elsewhere', async () => {
      const s = await sim(flavour);
      const c = client(s);
      if (flavour === 'new-api-2026') await rejectsWith(c.updateChannel(4242, { priority: 1 }), 'NOT_FOUND');
      else {
        // the server answers success:true; only verification notices
        await rejectsWith(c.updateChannel(4242, { priority: 1 }, { verify: true }), 'NOT_FOUND');
      }
    });

    test('neither the access token nor the echoed channel key reach results, errors or log lines', async () => {
      const s = await sim(flavour);
      const lines: string[] = [];
      const captured: string[] = [];
      const c = client(s, { onDryRun: (l) => lines.push(l) });
      const results = await c.updateChannel(1, { priority: 0 }, { verify: true });
      captured.push(JSON.stringify(results));
      captured.push(JSON.stringify(await c.setChannelEnabled(1, false, { verify: true })));
      captured.push(JSON.stringify(await c.listChannels()));
      captured.push(JSON.stringify(await c.getChannel(1)));
      const bad = client(s, { accessToken: `${TOKEN}-but-wrong`, flavour: clientFlavour(flavour) });
      for (const call of [() => bad.listChannels(), () => c.getChannel(999), () => c.updateChannel(1, { priority: 1.5 })]) {
        try {
          await call();
        } catch (e) {
          captured.push(dumpError(e), String(e), (e as Error).stack ?? '');
          assert.equal((e as any).config, undefined);
          assert.equal((e as any).request, undefined);
          assert.equal((e as any).response, undefined);
        }
      }
      s.setMode({ delayMs: 500 });
      const slow = client(s, { timeoutMs: 100, flavour: clientFlavour(flavour) });
      try {
        await slow.listChannels();
      } catch (e) {
        captured.push(dumpError(e));
      }
      s.setMode({ delayMs: 0 });
      const dry = client(s, { dryRun: true, onDryRun: (l) => lines.push(l) });
      captured.push(JSON.stringify(await dry.updateChannel(1, { priority: 3 }, { old: 0 })));
      const all = captured.concat(lines).join('\n');
      assert.ok(captured.length >= 8);
      assert.ok(!all.includes(TOKEN), 'access token leaked');
      assert.ok(!all.includes(CHANNEL_KEY_PREFIX), 'channel key leaked');
      if (flavour !== 'new-api-2026') {
        // the simulator does echo the key on PUT for these versions: the test would catch a leak
        const w = s.writes()[0];
        assert.equal(w.method, 'PUT');
      }
    });
  });
}

describe('client transport and configuration', () => {
  test('bad configuration is a BAD_CONFIG error without the token', () => {
    const cases: Array<Partial<OneApiClientOptions>> = [
      { baseUrl: 'ftp://x' },
      { baseUrl: 'not a url' },
      { baseUrl: 'http://user:pw@host' },
      { accessToken: '' },
      { accessToken: '   ' },
      { userId: 'abc' },
      { timeoutMs: -1 },
      { flavour: 'other' as any },
    ];
    for (const extra of cases) {
      assert.throws(
        () => new OneApiClient({ baseUrl: 'http://127.0.0.1:1', flavour: 'one-api', accessToken: TOKEN, ...extra }),
        (e: unknown) => e instanceof OneApiError && e.code === 'BAD_CONFIG' && !dumpError(e).includes(TOKEN),
        JSON.stringify(extra),
      );
    }
    const ok = new OneApiClient({ baseUrl: 'https://gw.example.com/', flavour: 'new-api', accessToken: `Bearer ${TOKEN}` });
    assert.equal(ok.url, 'https://gw.example.com');
    ok.close();
  });

  test('closed port -> UNREACHABLE', async () => {
    const port = await freePort();
    const c = new OneApiClient({ baseUrl: `http://127.0.0.1:${port}`, flavour: 'one-api', accessToken: TOKEN, timeoutMs: 2000 });
    opened.push(c);
    const e = await rejectsWith(c.listChannels(), 'UNREACHABLE');
    assert.ok(!dumpError(e).includes(TOKEN));
    await rejectsWith(c.status(), 'UNREACHABLE');
  });

  test('server that drops connections -> UNREACHABLE; slow server -> TIMEOUT; recovers', async () => {
    const s = await sim('new-api-2026');
    const c = client(s, { flavour: 'new-api', timeoutMs: 150 });
    assert.equal((await c.listChannels()).length, 12);
    s.setMode({ down: true });
    await rejectsWith(c.listChannels(), 'UNREACHABLE');
    s.setMode({ down: false, delayMs: 600 });
    const t0 = Date.now();
    await rejectsWith(c.listChannels(), 'TIMEOUT');
    assert.ok(Date.now() - t0 < 550, 'the timeout fired before the slow answer');
    s.setMode({ delayMs: 0 });
    assert.equal((await c.listChannels()).length, 12);
  });

  test('non-JSON answers (wrong base URL) -> BAD_RESPONSE', async () => {
    const s = await sim('one-api');
    const c = client(s, { baseUrl: `${s.url}/console`, flavour: 'one-api' });
    await rejectsWith(c.listChannels(), 'BAD_RESPONSE', 200);
    const srv = http.createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    opened.push({ close: () => new Promise<void>((r) => srv.close(() => r())) });
    const port = (srv.address() as { port: number }).port;
    const c2 = client(s, { baseUrl: `http://127.0.0.1:${port}`, flavour: 'one-api' });
    const e = await rejectsWith(c2.listChannels(), 'API_ERROR', 502);
    assert.ok(!e.message.includes('bad gateway'));
  });

  test('close() aborts in-flight requests and later calls fail fast', async () => {
    const s = await sim('one-api');
    s.setMode({ delayMs: 1500 });
    const c = client(s, { flavour: 'one-api', timeoutMs: 5000 });
    const t0 = Date.now();
    const p = c.listChannels();
    setTimeout(() => c.close(), 50);
    await rejectsWith(p, 'UNREACHABLE');
    assert.ok(Date.now() - t0 < 1000);
    await rejectsWith(c.getChannel(1), 'UNREACHABLE');
    s.setMode({ delayMs: 0 });
  });

  test('quotaData always sends both timestamps; self range is capped by the server', async () => {
    const s = await sim('new-api-2025');
    const hour = Math.floor(Date.now() / 3600_000) * 3600;
    s.addUsage({ model: 'glm-4', time: hour * 1000 + 10_000, promptTokens: 100, completionTokens: 20, requests: 2 });
    s.addUsage({ model: 'glm-4', time: hour * 1000 + 20_000, promptTokens: 50, completionTokens: 10, requests: 1, userId: 9 });
    const c = client(s, { flavour: 'new-api' });
    const rows = (await c.quotaData(hour - 3600, hour + 3599)) as QuotaDataRow[];
    assert.deepEqual(
      rows.map((r) => [r.model_name, r.created_at, r.token_used, r.count, r.quota]),
      [['glm-4', hour, 180, 3, 180]],
    );
    const self = (await c.quotaData(hour - 3600, hour + 3599, { self: true })) as QuotaDataRow[];
    assert.equal(self[0].token_used, 120);
    const q = new URL(s.requests().filter((r) => r.path.startsWith('/api/data/'))[0].path, 'http://x').searchParams;
    assert.equal(q.get('start_timestamp'), String(hour - 3600));
    assert.equal(q.get('end_timestamp'), String(hour + 3599));
    await rejectsWith(c.quotaData(0, 40 * 86400, { self: true }), 'API_ERROR');
    await assert.rejects(c.quotaData(10, 5), (e: unknown) => e instanceof OneApiError && e.code === 'BAD_CONFIG');
  });

  test('one-api user dashboard returns Go-field rows of the last 7 UTC days', async () => {
    const s = await sim('one-api');
    const now = Date.now();
    s.addUsage({ model: 'glm-4', time: now, promptTokens: 300, completionTokens: 100, requests: 4 });
    s.addUsage({ model: 'glm-4', time: now - 8 * 86400_000, promptTokens: 999, completionTokens: 1 });
    const rows = await client(s).userDashboard();
    assert.deepEqual(rows, [{ Day: new Date(now).toISOString().slice(0, 10), ModelName: 'glm-4', RequestCount: 4, Quota: 400, PromptTokens: 300, CompletionTokens: 100 }]);
  });

  test('usage rows are passed on as the server sent them: malformed ones are not dropped or turned into 0', async () => {
    const junk = [null, 'oops', 7, { Day: '2026-01-11', ModelName: 'glm-4', Quota: 'lots' }, { model_name: 'glm-4', created_at: 'soon', type: 2, quota: 5 }];
    const one = await sim('one-api');
    one.setMode({ junkRows: junk });
    const c1 = client(one, { flavour: 'one-api' });
    const dash = await c1.userDashboard();
    assert.deepEqual(dash, junk, 'the dashboard rows are returned unchanged');
    const now = Math.floor(Date.now() / 1000);
    const logs = await c1.consumeLogs({ start: now - 60, end: now + 60 });
    assert.equal(logs.length, junk.length, 'every malformed log row is passed on');
    assert.deepEqual(logs.slice(0, 3), [null, 'oops', 7]);
    assert.deepEqual(logs[4], { model: 'glm-4', createdAt: 'soon', promptTokens: undefined, completionTokens: undefined, quota: 5 });

    const na = await sim('new-api-2026');
    na.setMode({ junkRows: [{ model_name: 'glm-4', created_at: 1754640000, token_used: '12k', count: 1, quota: 3 }, null] });
    const rows = await client(na, { flavour: 'new-api' }).quotaData(1754600000, 1754700000);
    assert.deepEqual(rows, [{ model_name: 'glm-4', created_at: 1754640000, token_used: '12k', count: 1, quota: 3 }, null]);
  });

  test('log stat: an unreadable quota is NaN, not 0', async () => {
    const srv = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ success: true, message: '', data: { quota: 'n/a' } }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    opened.push({ close: () => new Promise<void>((r) => srv.close(() => r())) });
    const port = (srv.address() as { port: number }).port;
    const c = new OneApiClient({ baseUrl: `http://127.0.0.1:${port}`, flavour: 'one-api', accessToken: TOKEN, timeoutMs: 2000 });
    opened.push(c);
    assert.ok(Number.isNaN((await c.logStat({ start: 1, end: 2, modelName: 'glm-4' })).quota));
  });

  test('detection asks /api/user/dashboard when /api/status is ambiguous', async () => {
    // a server whose /api/status lacks new-api keys, but whose dashboard route is the admin /api/user/:id
    const srv = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/status') return res.end(JSON.stringify({ success: true, message: '', data: { version: 'v0.x', quota_per_unit: 1000 } }));
      if (req.url === '/api/user/dashboard') return res.end(JSON.stringify({ success: false, message: 'strconv.Atoi: parsing "dashboard": invalid syntax' }));
      res.statusCode = 404;
      res.end('{}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    opened.push({ close: () => new Promise<void>((r) => srv.close(() => r())) });
    const port = (srv.address() as { port: number }).port;
    const c = new OneApiClient({ baseUrl: `http://127.0.0.1:${port}`, flavour: 'detect', accessToken: TOKEN });
    opened.push(c);
    assert.equal(await c.flavour(), 'new-api');
    assert.equal((await c.status()).quotaPerUnit, 1000);
  });

  test('quotaToUsd uses quota_per_unit (default 500000)', () => {
    assert.equal(quotaToUsd(500000), 1);
    assert.equal(quotaToUsd(250000, 250000), 1);
    assert.equal(quotaToUsd(1000, 0), 0.002);
    assert.equal(quotaToUsd(Number.NaN), 0);
  });
});
