import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { startOneApiSimulator, demoChannels, startUsageTraffic, DEMO_BASELINE_PRIORITIES, DEMO_CHANNELS, type OneApiSimulator, type SimFlavour } from '../../simulators/oneapi';
import { CHANNEL_KEY_PREFIX, TOKEN, manyChannels, rawRequest } from '../support/oneapi-fixtures';
import { sleep } from '../support/ports';

const sims: OneApiSimulator[] = [];
after(async () => {
  for (const s of sims) await s.close();
});

async function sim(flavour: SimFlavour, channels = manyChannels(25)): Promise<OneApiSimulator> {
  const s = await startOneApiSimulator({ flavour, accessToken: TOKEN, userId: 1, channels });
  sims.push(s);
  return s;
}

const AUTH = { authorization: `Bearer ${TOKEN}` };
const AUTH_NEW = { ...AUTH, 'new-api-user': '1' };

describe('one-api 0.6 fidelity', () => {
  test('channel list: 0-based, fixed 10 per page whatever page_size, id desc, key blank', async () => {
    const s = await sim('one-api');
    const p0 = await rawRequest(s.url, 'GET', '/api/channel/?p=0&page_size=100', { headers: AUTH });
    assert.equal(p0.status, 200);
    assert.equal(p0.json.success, true);
    assert.ok(Array.isArray(p0.json.data));
    assert.deepEqual(
      p0.json.data.map((c: any) => c.id),
      [25, 24, 23, 22, 21, 20, 19, 18, 17, 16],
    );
    assert.ok(p0.json.data.every((c: any) => c.key === '' && typeof c.models === 'string'));
    const p2 = await rawRequest(s.url, 'GET', '/api/channel/?p=2', { headers: AUTH });
    assert.deepEqual(
      p2.json.data.map((c: any) => c.id),
      [5, 4, 3, 2, 1],
    );
    const p3 = await rawRequest(s.url, 'GET', '/api/channel/?p=3', { headers: AUTH });
    assert.deepEqual(p3.json.data, []);
    const all = await rawRequest(s.url, 'GET', '/api/channel/search?keyword=', { headers: AUTH });
    assert.equal(all.json.data.length, 25);
    const nulls = p0.json.data.find((c: any) => c.id === 21);
    assert.equal(nulls.priority, null, 'null priority stays null on the wire');
  });

  test('auth: no header 401, wrong token 200 success:false, low role 200 权限不足, Bearer optional', async () => {
    const s = await startOneApiSimulator({ flavour: 'one-api', accessToken: TOKEN, users: [{ token: 'commonUser1234567890', id: 5, role: 1 }] });
    sims.push(s);
    const none = await rawRequest(s.url, 'GET', '/api/channel/?p=0');
    assert.equal(none.status, 401);
    assert.equal(none.json.success, false);
    const wrong = await rawRequest(s.url, 'GET', '/api/channel/?p=0', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 200);
    assert.equal(wrong.json.message, '无权进行此操作，access token 无效');
    const bare = await rawRequest(s.url, 'GET', '/api/channel/?p=0', { headers: { authorization: TOKEN } });
    assert.equal(bare.json.success, true);
    const common = await rawRequest(s.url, 'GET', '/api/channel/?p=0', { headers: { authorization: 'Bearer commonUser1234567890' } });
    assert.equal(common.status, 200);
    assert.match(common.json.message, /权限不足/);
    const dash = await rawRequest(s.url, 'GET', '/api/user/dashboard', { headers: { authorization: 'Bearer commonUser1234567890' } });
    assert.equal(dash.json.success, true, 'the dashboard only needs a user');
  });

  test('PUT: partial update, echoes the key, unknown id success:true, no id and bad types fail', async () => {
    const s = await sim('one-api');
    const r = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { id: 3, priority: 0 } });
    assert.equal(r.json.success, true);
    assert.equal(r.json.data.priority, 0);
    assert.ok(r.json.data.key.startsWith(CHANNEL_KEY_PREFIX), 'one-api reloads every column, key included');
    const ch3 = s.channels().find((c) => c.id === 3)!;
    assert.equal(ch3.priority, 0);
    assert.equal(ch3.weight, 1, 'other columns untouched');
    assert.deepEqual(ch3.models, ['model-3']);
    const unknown = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { id: 999, priority: 0 } });
    assert.equal(unknown.json.success, true);
    const noId = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { priority: 0 } });
    assert.deepEqual([noId.json.success, noId.json.message], [false, 'WHERE conditions required']);
    const str = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { id: 3, priority: '5' } });
    assert.equal(str.json.success, false);
    const nul = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { id: 3, priority: null, status: 2 } });
    assert.equal(nul.json.success, true);
    assert.equal(s.channels().find((c) => c.id === 3)!.priority, 0, 'null is skipped');
    assert.equal(s.channels().find((c) => c.id === 3)!.status, 2);
    const post = await rawRequest(s.url, 'POST', '/api/channel/3/status', { headers: AUTH, body: { status: 1 } });
    assert.equal(post.status, 404);
    assert.deepEqual(post.json.error, { message: 'Invalid URL (POST /api/channel/3/status)', type: 'invalid_request_error', param: '', code: '' });
    assert.equal(s.writes().length, 6);
    assert.deepEqual(s.writes()[0].body, { id: 3, priority: 0 });
  });

  test('usage: dashboard rows for 7 UTC days (own usage only), logs 10 per page, log stat', async () => {
    const s = await sim('one-api');
    const now = Date.now();
    s.addUsage({ model: 'b-model', time: now, promptTokens: 10, completionTokens: 5, requests: 12 });
    s.addUsage({ model: 'a-model', time: now - 86400_000, promptTokens: 7, completionTokens: 3, quota: 99 });
    s.addUsage({ model: 'a-model', time: now - 7 * 86400_000 - 3600_000, promptTokens: 1000, completionTokens: 1000 });
    s.addUsage({ model: 'b-model', time: now, promptTokens: 500, completionTokens: 500, userId: 77 });
    const dash = await rawRequest(s.url, 'GET', '/api/user/dashboard', { headers: AUTH });
    const day = (t: number) => new Date(t).toISOString().slice(0, 10);
    assert.deepEqual(dash.json.data, [
      { Day: day(now - 86400_000), ModelName: 'a-model', RequestCount: 1, Quota: 99, PromptTokens: 7, CompletionTokens: 3 },
      { Day: day(now), ModelName: 'b-model', RequestCount: 12, Quota: 15, PromptTokens: 10, CompletionTokens: 5 },
    ]);
    const sec = Math.floor(now / 1000);
    const q = `type=2&start_timestamp=${sec - 3600}&end_timestamp=${sec + 10}`;
    const p0 = await rawRequest(s.url, 'GET', `/api/log/?p=0&${q}&page_size=100`, { headers: AUTH });
    assert.equal(p0.json.data.length, 10);
    const p1 = await rawRequest(s.url, 'GET', `/api/log/?p=1&${q}`, { headers: AUTH });
    assert.equal(p1.json.data.length, 3);
    const p2 = await rawRequest(s.url, 'GET', `/api/log/?p=2&${q}`, { headers: AUTH });
    assert.deepEqual(p2.json.data, []);
    const log = p0.json.data[0];
    for (const k of ['id', 'user_id', 'created_at', 'type', 'model_name', 'quota', 'prompt_tokens', 'completion_tokens', 'channel']) assert.ok(k in log, k);
    const stat = await rawRequest(s.url, 'GET', `/api/log/stat?${q}&model_name=b-model`, { headers: AUTH });
    assert.deepEqual(stat.json.data, { quota: 1015 });
    const data = await rawRequest(s.url, 'GET', `/api/data/?start_timestamp=0&end_timestamp=${sec}`, { headers: AUTH });
    assert.equal(data.status, 404, 'one-api has no /api/data/');
  });
});

describe('new-api 2025-04 fidelity', () => {
  test('channel list needs page_size (missing -> []), 0-based, priority desc, no cap', async () => {
    const s = await sim('new-api-2025');
    const none = await rawRequest(s.url, 'GET', '/api/channel/?p=0', { headers: AUTH_NEW });
    assert.deepEqual(none.json, { success: true, message: '', data: [] });
    const big = await rawRequest(s.url, 'GET', '/api/channel/?p=0&page_size=500', { headers: AUTH_NEW });
    assert.equal(big.json.data.length, 25);
    const prios = big.json.data.map((c: any) => c.priority ?? 0);
    assert.deepEqual(prios, [...prios].sort((a: number, b: number) => b - a));
    const p1 = await rawRequest(s.url, 'GET', '/api/channel/?p=1&page_size=10&id_sort=true', { headers: AUTH_NEW });
    assert.deepEqual(
      p1.json.data.map((c: any) => c.id),
      [15, 14, 13, 12, 11, 10, 9, 8, 7, 6],
    );
  });

  test('New-Api-User: missing, malformed and mismatched -> 401; wrong token 200', async () => {
    const s = await sim('new-api-2025');
    const cases: Array<[Record<string, string>, number, RegExp]> = [
      [AUTH, 401, /未提供 New-Api-User/],
      [{ ...AUTH, 'new-api-user': 'x' }, 401, /格式错误/],
      [{ ...AUTH, 'New-API-User': '2' }, 401, /不匹配/],
      [{ authorization: 'Bearer bad', 'new-api-user': '1' }, 200, /access token 无效/],
    ];
    for (const [headers, status, msg] of cases) {
      const r = await rawRequest(s.url, 'GET', '/api/channel/?p=0&page_size=10', { headers });
      assert.equal(r.status, status);
      assert.equal(r.json.success, false);
      assert.match(r.json.message, msg);
    }
    assert.equal((await rawRequest(s.url, 'GET', '/api/status')).json.success, true, '/api/status is public');
  });

  test('PUT echoes the real key; status in PUT allowed; no status endpoint; dashboard is strconv error', async () => {
    const s = await sim('new-api-2025');
    const r = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH_NEW, body: { id: 2, weight: 0, status: 2 } });
    assert.equal(r.json.success, true);
    assert.equal(r.json.data.key, `${CHANNEL_KEY_PREFIX}000002xyz`);
    assert.deepEqual(
      [s.channels()[1].weight, s.channels()[1].status],
      [0, 2],
    );
    const get = await rawRequest(s.url, 'GET', '/api/channel/2', { headers: AUTH_NEW });
    assert.equal(get.json.data.key, '');
    assert.equal((await rawRequest(s.url, 'POST', '/api/channel/2/status', { headers: AUTH_NEW, body: { status: 1 } })).status, 404);
    const dash = await rawRequest(s.url, 'GET', '/api/user/dashboard', { headers: AUTH_NEW });
    assert.deepEqual(dash.json, { success: false, message: 'strconv.Atoi: parsing "dashboard": invalid syntax' });
    const abc = await rawRequest(s.url, 'GET', '/api/channel/abc', { headers: AUTH_NEW });
    assert.match(abc.json.message, /strconv.Atoi: parsing "abc"/);
  });

  test('/api/data/: hourly rows per model for all users; both timestamps needed; self capped at 30 days', async () => {
    const s = await sim('new-api-2025');
    const h = Math.floor(Date.now() / 3600_000) * 3600 - 7200;
    s.addUsage({ model: 'm1', time: h * 1000 + 5_000, promptTokens: 10, completionTokens: 5, requests: 2 });
    s.addUsage({ model: 'm1', time: h * 1000 + 3599_000, promptTokens: 1, completionTokens: 1, userId: 3 });
    s.addUsage({ model: 'm1', time: (h + 3600) * 1000, promptTokens: 2, completionTokens: 2, quota: 40 });
    const rows = await rawRequest(s.url, 'GET', `/api/data/?start_timestamp=${h}&end_timestamp=${h + 7199}`, { headers: AUTH_NEW });
    assert.deepEqual(rows.json.data, [
      { id: 0, user_id: 0, username: '', model_name: 'm1', created_at: h, token_used: 17, count: 3, quota: 17 },
      { id: 0, user_id: 0, username: '', model_name: 'm1', created_at: h + 3600, token_used: 4, count: 1, quota: 40 },
    ]);
    const missing = await rawRequest(s.url, 'GET', '/api/data/', { headers: AUTH_NEW });
    assert.deepEqual(missing.json.data, []);
    const self = await rawRequest(s.url, 'GET', `/api/data/self?start_timestamp=${h}&end_timestamp=${h + 7199}`, { headers: AUTH_NEW });
    assert.equal(self.json.data[0].token_used, 15);
    const long = await rawRequest(s.url, 'GET', `/api/data/self?start_timestamp=0&end_timestamp=${31 * 86400}`, { headers: AUTH_NEW });
    assert.deepEqual(long.json, { success: false, message: '时间跨度不能超过 1 个月' });
  });
});

describe('new-api main (2026) fidelity', () => {
  test('channel list: {items,total,page,page_size,type_counts}, 1-based, default 10, cap 100', async () => {
    const s = await sim('new-api-2026', manyChannels(150));
    const d = (await rawRequest(s.url, 'GET', '/api/channel/', { headers: AUTH })).json.data;
    assert.deepEqual(Object.keys(d).sort(), ['items', 'page', 'page_size', 'total', 'type_counts']);
    assert.deepEqual([d.items.length, d.total, d.page, d.page_size], [10, 150, 1, 10]);
    const p0 = (await rawRequest(s.url, 'GET', '/api/channel/?p=0&page_size=500', { headers: AUTH })).json.data;
    assert.deepEqual([p0.items.length, p0.page, p0.page_size], [100, 1, 100]);
    const p2 = (await rawRequest(s.url, 'GET', '/api/channel/?p=2&page_size=100', { headers: AUTH })).json.data;
    assert.equal(p2.items.length, 50);
    assert.ok('channel_info' in p2.items[0] && 'auto_ban' in p2.items[0]);
  });

  test('auth: 401/403 with code fields; New-Api-User ignored', async () => {
    const s = await startOneApiSimulator({ flavour: 'new-api-2026', accessToken: TOKEN, users: [{ token: 'commonUser1234567890', id: 5, role: 1 }] });
    sims.push(s);
    const wrong = await rawRequest(s.url, 'GET', '/api/channel/', { headers: { authorization: 'Bearer nope', 'new-api-user': '1' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.code, 'AUTH_UNAUTHORIZED');
    const low = await rawRequest(s.url, 'GET', '/api/channel/', { headers: { authorization: 'Bearer commonUser1234567890' } });
    assert.equal(low.status, 403);
    assert.equal(low.json.code, 'AUTH_INSUFFICIENT_PRIVILEGE');
    const mismatched = await rawRequest(s.url, 'GET', '/api/channel/', { headers: { ...AUTH, 'new-api-user': '42' } });
    assert.equal(mismatched.json.success, true);
  });

  test('PUT rejects status, blanks the key, unknown id -> record not found; status endpoints work', async () => {
    const s = await sim('new-api-2026');
    const st = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { id: 1, status: 2 } });
    assert.deepEqual(st.json, { success: false, message: 'Invalid parameters' });
    assert.equal(s.channels()[0].status, 1);
    const ok = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { id: 1, priority: 0 } });
    assert.equal(ok.json.data.key, '');
    assert.equal(ok.json.data.priority, 0);
    const unknown = await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: { id: 999, priority: 0 } });
    assert.deepEqual([unknown.json.success, unknown.json.message], [false, 'record not found']);
    const post = await rawRequest(s.url, 'POST', '/api/channel/1/status', { headers: AUTH, body: { status: 2 } });
    assert.deepEqual(post.json, { success: true, message: '', data: true });
    const again = await rawRequest(s.url, 'POST', '/api/channel/1/status', { headers: AUTH, body: { status: 2 } });
    assert.equal(again.json.data, false);
    const bad = await rawRequest(s.url, 'POST', '/api/channel/1/status', { headers: AUTH, body: { status: 3 } });
    assert.equal(bad.json.success, false);
    const missing = await rawRequest(s.url, 'POST', '/api/channel/999/status', { headers: AUTH, body: { status: 2 } });
    assert.deepEqual([missing.json.success, missing.json.data], [true, false]);
    const batch = await rawRequest(s.url, 'POST', '/api/channel/status/batch', { headers: AUTH, body: { ids: [1, 2, 3], status: 2 } });
    assert.equal(batch.json.data, 2);
    assert.deepEqual(
      s.channels().slice(0, 4).map((c) => c.status),
      [2, 2, 2, 1],
    );
  });

  test('logs are 1-based {items,total}; log stat adds rpm/tpm', async () => {
    const s = await sim('new-api-2026');
    s.addUsage({ model: 'x', promptTokens: 30, completionTokens: 30, requests: 15 });
    const sec = Math.floor(Date.now() / 1000);
    const r = (await rawRequest(s.url, 'GET', `/api/log/?type=2&start_timestamp=${sec - 60}&end_timestamp=${sec + 5}`, { headers: AUTH })).json.data;
    assert.deepEqual([r.items.length, r.total, r.page, r.page_size], [10, 15, 1, 10]);
    const stat = (await rawRequest(s.url, 'GET', `/api/log/stat?type=2&start_timestamp=${sec - 60}&end_timestamp=${sec + 5}`, { headers: AUTH })).json.data;
    assert.deepEqual(stat, { quota: 60, rpm: 15, tpm: 60 });
  });
});

describe('simulator controls', () => {
  test('unknown /api route 404 OpenAI-style; web paths serve HTML; 429 mode empty body; down mode drops', async () => {
    const s = await sim('new-api-2026');
    const r = await rawRequest(s.url, 'PUT', '/api/x', { headers: AUTH, body: {} });
    assert.equal(r.status, 404);
    assert.equal(r.json.error.message, 'Invalid URL (PUT /api/x)');
    const html = await rawRequest(s.url, 'GET', '/console/api/status');
    assert.equal(html.status, 200);
    assert.equal(html.json, undefined);
    s.setMode({ rateLimited: true });
    const limited = await rawRequest(s.url, 'GET', '/api/channel/', { headers: AUTH });
    assert.deepEqual([limited.status, limited.text], [429, '']);
    s.setMode({ rateLimited: false, down: true });
    await assert.rejects(rawRequest(s.url, 'GET', '/api/status'));
    s.setMode({ down: false, delayMs: 120 });
    const t0 = Date.now();
    await rawRequest(s.url, 'GET', '/api/status');
    assert.ok(Date.now() - t0 >= 100);
    s.reset();
    assert.equal(s.writes().length, 0);
    assert.equal(s.requests().length, 0);
    assert.equal(s.channels().length, 25);
  });

  test('requests() records headers and writes() records every mutating request', async () => {
    const s = await sim('one-api');
    await rawRequest(s.url, 'PUT', '/api/channel/', { headers: AUTH, body: '{bad json' });
    await rawRequest(s.url, 'PUT', '/api/channel/', { headers: { authorization: 'Bearer nope' }, body: { id: 1, priority: 9 } });
    assert.equal(s.writes().length, 2);
    assert.equal(s.writes()[0].body, '{bad json');
    assert.equal(s.channels()[0].priority, 1, 'rejected writes change nothing');
    assert.equal(s.requests()[1].headers.authorization, 'Bearer nope');
  });

  test('demo data: six channels with baseline priorities, one carrying two models; traffic moves numbers', async () => {
    assert.equal(DEMO_CHANNELS.length, 6);
    for (const c of DEMO_CHANNELS) assert.equal(c.priority, DEMO_BASELINE_PRIORITIES[c.models[0]]);
    assert.equal(DEMO_CHANNELS.filter((c) => c.models.length === 2).length, 1);
    const s = await startOneApiSimulator({ flavour: 'new-api-2026', accessToken: TOKEN, channels: demoChannels() });
    sims.push(s);
    const traffic = startUsageTraffic(s, { tokensPerMinuteByModel: { 'glm-4-7-251222': 600_000, 'kimi-k2-turbo-preview': 60_000 }, intervalMs: 50, random: () => 0.5 });
    await sleep(230);
    traffic.stop();
    const sec = Math.floor(Date.now() / 1000);
    const stat1 = (await rawRequest(s.url, 'GET', `/api/log/stat?type=2&start_timestamp=${sec - 60}&end_timestamp=${sec + 5}&model_name=glm-4-7-251222`, { headers: AUTH })).json.data;
    assert.ok(stat1.quota >= 1000, `glm usage grew: ${stat1.quota}`);
    const logs = (await rawRequest(s.url, 'GET', `/api/log/?type=2&model_name=kimi-k2-turbo-preview&page_size=100&start_timestamp=${sec - 60}&end_timestamp=${sec + 5}`, { headers: AUTH })).json.data;
    assert.ok(logs.items.length > 0);
    assert.ok(logs.items.every((l: any) => l.channel === 5), 'usage is attributed to the channel carrying the model');
    await sleep(120);
    const stat2 = (await rawRequest(s.url, 'GET', `/api/log/stat?type=2&start_timestamp=${sec - 60}&end_timestamp=${sec + 5}&model_name=glm-4-7-251222`, { headers: AUTH })).json.data;
    assert.equal(stat2.quota, stat1.quota, 'stop() stops the traffic');
  });
});
