/**
 * The "LLM router" dashboard tab, end to end, in a real browser: a real Node-RED runs every
 * example flow merged as `npm start` does (examples/05 Dashboard.json among them) against the
 * One API simulator (and the provider simulator when the examples have provider accounts);
 * headless Chromium opens /ui and the test reads back what the page shows: the live Chart.js
 * data and stacking, the ui_table rows, the quota-board rows, that a hostile model name is
 * shown as text, and that the page logs no errors. Saves test-output/dashboard.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOneApiSimulator, demoChannels, type OneApiSimulator } from '../../simulators/oneapi';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { demoAccounts, DEMO_KEYS } from '../../simulators/provider/demo-accounts';
import { mergeExamples, demoAccountFor } from '../../tools/demo';
import { startNodeRed, httpRequest, type NodeRedInstance } from '../support/nodered-instance';
import { launchBrowser, newPage, screenshot } from '../support/browser';
import { readBoard, readCharts, readTable, withoutFrameworkNoise, type ChartState } from '../support/dashboard-page';
import { coreNodeFiles, nodeSets, readExamples, unknownTypes, type FlowNode } from '../support/package-files';
import { sleep, waitFor } from '../support/ports';
import { addDays, dayKey, startOfDay } from '../../engine/time/zoned';

const TZ = 'Asia/Shanghai';
const TOKEN = 'dashboard-test-admin-token-0001';
const HOSTILE = '<img src=x onerror=alert(1)>';
const DASHBOARD_FILE = '05 Dashboard.json';

/** Node ids in examples/05 Dashboard.json. */
const ID = {
  inject: 'd5b0a11c0de0000b',
  check: 'd5b0a11c0de0000e',
  usageChart: 'd5b0a11c0de00011',
  trendChart: 'd5b0a11c0de00012',
  channels: 'd5b0a11c0de00013',
  liveChart: 'd5b0a11c0de00014',
  alerts: 'd5b0a11c0de00015',
  providers: 'd5b0a11c0de00016',
  board: 'd5b0a11c0de00010',
};

/** Today's tokens per gateway model, and the expected quota state against the example's allowances. */
const TODAY: Array<{ model: string; label: string; tokens: number; limit: number; percent: string; state: string }> = [
  { model: HOSTILE, label: HOSTILE, tokens: 100_000, limit: 1_000_000, percent: '10.0%', state: 'ok' },
  { model: 'deepseek-v3-2-251201', label: 'DeepSeek-V3-2-251201', tokens: 2_000_000, limit: 1_900_000, percent: '105.3%', state: 'exhausted' },
  { model: 'doubao-seed-code-preview-251028', label: 'Doubao-Seed-Code-Preview-251028', tokens: 1_225_000, limit: 4_900_000, percent: '25.0%', state: 'ok' },
  { model: 'glm-4-7-251222', label: 'GLM-4-7-251222', tokens: 2_000_000, limit: 2_400_000, percent: '83.3%', state: 'warn' },
  { model: 'kimi-k2-thinking-251104', label: 'Kimi-K2-Thinking-251104', tokens: 475_000, limit: 1_900_000, percent: '25.0%', state: 'ok' },
];
/** Tokens on each of the six previous days: base + 1000 * days back. */
const HISTORY_BASE: Record<string, number> = {
  [HOSTILE]: 50_000,
  'deepseek-v3-2-251201': 1_500_000,
  'doubao-seed-code-preview-251028': 2_000_000,
  'glm-4-7-251222': 1_000_000,
  'kimi-k2-thinking-251104': 800_000,
};

const STATE_COLOURS: Record<string, string> = { ok: 'rgb(46, 125, 50)', warn: 'rgb(245, 158, 11)', exhausted: 'rgb(211, 47, 47)' };

function seedUsage(sim: OneApiSimulator, now: number): { days: string[]; trend: Record<string, number[]> } {
  const today = dayKey(now, TZ);
  const days: string[] = [];
  for (let d = 6; d >= 0; d--) days.push(addDays(today, -d));
  const trend: Record<string, number[]> = {};
  for (const [model, base] of Object.entries(HISTORY_BASE)) {
    trend[model] = [];
    for (let d = 6; d >= 1; d--) {
      const tokens = base + 1000 * d;
      const prompt = Math.round(tokens * 0.7);
      // noon of that day in Asia/Shanghai
      sim.addUsage({ model, time: startOfDay(addDays(today, -d), TZ) + 12 * 3600_000, promptTokens: prompt, completionTokens: tokens - prompt, requests: 4 });
      trend[model].push(tokens);
    }
  }
  const todayTime = Math.max(startOfDay(today, TZ), now - 1000);
  for (const m of TODAY) {
    const prompt = Math.round(m.tokens * 0.7);
    sim.addUsage({ model: m.model, time: todayTime, promptTokens: prompt, completionTokens: m.tokens - prompt, requests: 10 });
    trend[m.model].push(m.tokens);
  }
  return { days, trend };
}

/** The examples whose node types all exist (this package's registered nodes, Node-RED core, Dashboard). */
function deployableExamples(): { used: Array<{ file: string; nodes: FlowNode[] }>; skipped: string[] } {
  const known = new Set<string>([...Object.keys(nodeSets()), ...coreNodeFiles().keys(), 'catch', 'status', 'complete']);
  const used: Array<{ file: string; nodes: FlowNode[] }> = [];
  const skipped: string[] = [];
  for (const ex of readExamples()) {
    const unknown = unknownTypes(ex.nodes, known).filter((t) => !t.startsWith('ui_') && t !== 'quota-board');
    if (unknown.length === 0 || ex.file === DASHBOARD_FILE) used.push({ file: ex.file, nodes: JSON.parse(JSON.stringify(ex.nodes)) as FlowNode[] });
    else skipped.push(`${ex.file} (unregistered types: ${unknown.join(', ')})`);
  }
  return { used, skipped };
}

/** waitFor that returns the non-null value. */
async function until<T>(check: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, what: string): Promise<T> {
  return (await waitFor(check, timeoutMs, 100, what)) as T;
}

function byOriginalId(flows: Array<Record<string, unknown>>, id: string): Record<string, unknown> {
  const n = flows.find((x) => x.id === id || String(x.id).startsWith(`${id}.`));
  assert.ok(n, `node ${id} of examples/${DASHBOARD_FILE} is missing from the merged flows`);
  return n;
}

test('the LLM router dashboard in Chromium: charts, stacked trend, channel table, quota board, escaping, no page errors', { timeout: 150_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const cleanups: Array<() => Promise<unknown> | unknown> = [() => browser.close()];
  let nodeRed: NodeRedInstance | null = null;
  let usageSeen = false;
  let pageRef: Awaited<ReturnType<typeof newPage>> | null = null;
  try {
    // --- services -------------------------------------------------------------------------
    const channels = demoChannels();
    channels.push({ id: 7, name: 'volc-preview', models: [HOSTILE], priority: 2, weight: 0, status: 1, key: 'placeholder-channel-key-7', type: 1, group: 'default', tag: null });
    const oneApi = await startOneApiSimulator({ flavour: 'new-api-2026', accessToken: TOKEN, userId: 1, host: '127.0.0.1', port: 0, channels });
    cleanups.push(() => oneApi.close());
    const expected = seedUsage(oneApi, Date.now());

    const { used, skipped } = deployableExamples();
    if (skipped.length) t.diagnostic(`examples not deployed: ${skipped.join('; ')}`);
    t.diagnostic(`examples deployed: ${used.map((e) => e.file).join(', ')}`);
    const flows = mergeExamples(used as Parameters<typeof mergeExamples>[0]) as Array<Record<string, unknown> & { id: string; type: string }>;

    let provider: ProviderSimulator | null = null;
    const accounts = flows.filter((n) => n.type === 'llm-provider');
    if (accounts.length) {
      provider = await startProviderSimulator({ accounts: demoAccounts({}), host: '127.0.0.1', port: 0 });
      cleanups.push(() => provider?.close());
    }
    const credentials: Record<string, Record<string, string>> = {};
    for (const n of flows) {
      if (n.type === 'oneapi-server') {
        n.baseUrl = oneApi.url;
        credentials[n.id] = { accessToken: TOKEN, userId: '1' };
      } else if (n.type === 'llm-provider' && provider) {
        const account = demoAccountFor(n.name);
        n.baseUrl = provider.url;
        credentials[n.id] = { apiKey: account ? DEMO_KEYS[account] : DEMO_KEYS.hunyuan };
      }
    }
    const check = byOriginalId(flows, ID.check);
    // the dashboard flow is a read-only copy: quota-check's priority changes go nowhere
    assert.deepEqual((check.wires as string[][])[0], [], 'quota-check output 1 of the dashboard example is not wired');
    const own = used.find((e) => e.file === DASHBOARD_FILE)!.nodes;
    assert.deepEqual(
      own.filter((n) => n.type === 'priority-set' || n.type === 'reset-schedule' || n.type === 'function').map((n) => n.type),
      [],
      'the dashboard example writes no priorities and needs no function node',
    );
    (check.allowances as unknown[]).push({ model: HOSTILE, limit: '1M', unit: 'tokens', window: 'day', tz: TZ, baselinePriority: 2 });
    const injectId = String(byOriginalId(flows, ID.inject).id);
    const widget = (id: string): string => String(byOriginalId(flows, id).id);
    // a quota guard example that writes to the gateway: a priority-set on a One API server, not dry-run
    const servers = new Set(flows.filter((n) => n.type === 'oneapi-server' && n.dryRun !== true).map((n) => n.id));
    const guardWrites = flows.some((n) => n.type === 'priority-set' && n.target !== 'local' && n.dryRun !== true && servers.has(String(n.server)));

    nodeRed = await startNodeRed({ flows, credentials, startTimeoutMs: 40_000 });
    const nr = nodeRed;
    cleanups.push(() => nr.stop());
    assert.doesNotMatch(nr.logs(), /Waiting for missing types/, 'Node-RED is waiting for missing node types');

    // --- the page -------------------------------------------------------------------------
    const page = await newPage(browser, { collectErrors: true, viewport: { width: 1400, height: 900 } });
    pageRef = page;
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      d.dismiss().catch(() => undefined);
    });
    await page.goto(`${nr.url}/ui/`, { waitUntil: 'load' });

    // usage vs allowance: one stacked bar per model, used + remaining, in the allowance's spelling
    const labels = TODAY.map((m) => m.label);
    let lastCharts: unknown = null;
    t.after(() => {
      if (!usageSeen) t.diagnostic(`charts last seen: ${JSON.stringify(lastCharts)}`);
    });
    const charts = await until(
      async () => {
        const c = await readCharts(page);
        lastCharts = c;
        const u = c[widget(ID.usageChart)];
        const tr = c[widget(ID.trendChart)];
        return u && u.labels.length === labels.length && tr && tr.datasets.length === TODAY.length ? c : null;
      },
      30_000, 'the usage and trend charts to be drawn');
    usageSeen = true;
    const usage = charts[widget(ID.usageChart)] as ChartState;
    assert.equal(usage.type, 'horizontalBar');
    assert.deepEqual(usage.labels, labels);
    assert.deepEqual(
      usage.datasets.map((d) => d.label),
      ['used', 'remaining'],
    );
    assert.deepEqual(usage.datasets[0].data, TODAY.map((m) => m.tokens));
    assert.deepEqual(usage.datasets[1].data, TODAY.map((m) => Math.max(0, m.limit - m.tokens)));
    assert.deepEqual(usage.stacked, { x: [true], y: [true] }, 'used + remaining bars are stacked in the running chart');

    // 7-day trend: one series per gateway model, the last seven Asia/Shanghai days, stacked
    const trend = charts[widget(ID.trendChart)] as ChartState;
    assert.equal(trend.type, 'bar');
    assert.deepEqual(trend.labels, expected.days);
    assert.deepEqual(
      trend.datasets.map((d) => d.label),
      TODAY.map((m) => m.model),
    );
    for (const d of trend.datasets) assert.deepEqual(d.data, expected.trend[d.label], `trend of ${d.label}`);
    assert.deepEqual(trend.stacked, { x: [true], y: [true] }, 'the trend chart is stacked in the running Chart.js config');

    // quota board: one row per model with its %, state and colour
    const board = await until(
async () => {
      const rows = await readBoard(page, widget(ID.board));
      return rows.length === TODAY.length ? rows : null;
    }, 10_000, 'the quota board rows');
    assert.deepEqual(
      board.map((r) => [r.model, r.percent, r.stateClass]),
      TODAY.map((m) => [m.label, m.percent, `lqb-state-${m.state}`]),
    );
    for (const r of board) {
      const m = TODAY.find((x) => x.label === r.model)!;
      assert.equal(r.color, STATE_COLOURS[m.state], `colour of ${r.model}`);
      assert.equal(r.barWidth, `${Math.min(100, Number(m.percent.replace('%', '')))}%`, `bar of ${r.model}`);
    }

    // --- the quota guard demotes the exhausted channel; the monitoring copy never writes ----------
    if (guardWrites) {
      await waitFor(() => oneApi.channels().find((c) => c.id === 1)?.priority === 0, 30_000, 100, 'the quota guard example to demote channel 1');
    } else {
      t.diagnostic('no quota guard example with priority-set deployed: demoting channel 1 through the admin API instead');
      const r = await httpRequest(`${oneApi.url}/api/channel/`, 'PUT', { id: 1, priority: 0 }, { Authorization: `Bearer ${TOKEN}` });
      assert.equal(r.status, 200, r.body);
    }
    const writes = oneApi.writes().filter((w) => w.method !== 'GET');
    assert.ok(
      writes.every((w) => (w.body as { id?: number })?.id !== 7),
      'nothing demotes the hostile model channel (it is within its allowance)',
    );
    // the next poll of the dashboard flow (the inject's button, as a user would press it)
    const fire = await nr.request('POST', `/inject/${injectId}`);
    assert.equal(fire.status, 200, fire.body);
    const channelRows = await until(
async () => {
      const rows = await readTable(page, widget(ID.channels));
      return rows.find((r) => r.id === '1')?.priority === '0' ? rows : null;
    }, 15_000, 'channel 1 to show priority 0 in the channel table');
    assert.deepEqual(
      channelRows.map((r) => r.id).sort(),
      ['1', '2', '3', '4', '5', '6', '7'],
    );
    const ch1 = channelRows.find((r) => r.id === '1')!;
    assert.equal(ch1.name, 'volc-deepseek-v3-2');
    assert.equal(ch1.usage, '105.3%');
    assert.equal(ch1.status, 'enabled');
    assert.equal(channelRows.find((r) => r.id === '7')!.models, HOSTILE);
    // health: the worst quota state of the channel's models (from this poll's reports)
    assert.match(ch1.health, /exhausted/);
    assert.match(channelRows.find((r) => r.id === '3')!.health, /warn/);
    assert.equal(channelRows.find((r) => r.id === '7')!.health, 'ok');
    assert.equal(channelRows.find((r) => r.id === '3')!.priority, '5');
    // the demoted channel sorts last among the priorities
    assert.equal(channelRows[channelRows.length - 1].id, '1');
    const boardAfter = await until(
async () => {
      const rows = await readBoard(page, widget(ID.board));
      return /\b0$/.test(rows.find((r) => r.model === 'DeepSeek-V3-2-251201')?.priority ?? '') ? rows : null;
    }, 10_000, 'the quota board to show priority 0 for DeepSeek-V3-2-251201');
    assert.match(boardAfter.find((r) => r.model === 'GLM-4-7-251222')!.priority, /\b5$/);

    // --- live requests/min and provider accounts (when the examples define accounts) ------------
    // an account's name on the dashboard: its node name, else its id
    const accountNames = accounts.map((a) => (typeof a.name === 'string' && a.name.trim() ? a.name.trim() : a.id));
    if (accountNames.length) {
      const live = await until(
async () => {
        const c = (await readCharts(page))[widget(ID.liveChart)];
        return c && accountNames.every((n) => c.datasets.some((d) => d.label === n)) ? c : null;
      }, 15_000, 'a live requests/min series per provider account');
      assert.equal(live.type, 'line');
      for (const d of live.datasets) for (const p of d.data as Array<{ y: number }>) assert.ok(Number.isFinite(p.y) && p.y >= 0, `${d.label}: ${JSON.stringify(p)}`);
      const provRows = await readTable(page, widget(ID.providers));
      assert.deepEqual([...new Set(provRows.map((r) => r.account))].sort(), [...new Set(accountNames)].sort());
      for (const r of provRows) assert.match(r.rpm, /^\d+ \/ (\d+|∞)$/, `rpm of ${r.account}`);
    } else {
      t.diagnostic('no llm-provider accounts in the deployed examples: live chart and provider table not checked');
    }

    // --- escaping ---------------------------------------------------------------------------
    const dom = await page.evaluate(() => ({
      text: document.body.innerText,
      imgX: document.querySelectorAll('img[src="x"]').length,
      onerror: document.querySelectorAll('[onerror]').length,
    }));
    assert.ok(dom.text.includes(HOSTILE), 'the hostile model name is visible as text');
    assert.equal(dom.imgX, 0, 'no <img src=x> element was created');
    assert.equal(dom.onerror, 0, 'no element carries an onerror attribute');
    assert.deepEqual(dialogs, [], 'no dialog opened');

    // Dashboard 1 scrolls inside its own container: make the window as tall as the content, then shoot
    const contentHeight = await page.evaluate(() => {
      const m = document.querySelector('.masonry-container');
      return m ? Math.ceil(m.getBoundingClientRect().top + m.scrollHeight) : 900;
    });
    await page.setViewportSize({ width: 1400, height: Math.min(4000, Math.max(900, contentHeight + 12)) });
    await sleep(1200); // the charts resize and finish their animation
    const shot = await screenshot(page, 'dashboard', true);
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(withoutFrameworkNoise(page.errors()), [], 'console errors or uncaught exceptions on the dashboard page');
    assert.doesNotMatch(nr.logs(), /\[error\] \[(usage-fetch|quota-check|llm-dashboard-feed|quota-board|ui_chart|ui_table):/, 'errors of the dashboard flow in the Node-RED log');

    // --- quota-check alerts in the feed ---------------------------------------------------------
    await t.test('quota-check alerts reach the alerts table', async () => {
      const alerts = await until(async () => {
        const rows = await readTable(page, widget(ID.alerts));
        return rows.length ? rows : null;
      }, 3000, 'rows in the alerts table');
      const byModel = new Map(alerts.map((r) => [r.model, r]));
      assert.equal(byModel.get('DeepSeek-V3-2-251201')?.state, 'exhausted');
      assert.equal(byModel.get('GLM-4-7-251222')?.state, 'warn');
      assert.match(byModel.get('DeepSeek-V3-2-251201')?.message ?? '', /DeepSeek-V3-2-251201/, 'the alert text is shown');
    });
  } catch (err) {
    if (pageRef) {
      const p = pageRef;
      t.diagnostic(`page errors: ${JSON.stringify(p.errors())}`);
      t.diagnostic(`page text: ${(await p.evaluate(() => document.body.innerText).catch(() => '?')).slice(0, 3000)}`);
    }
    if (nodeRed) t.diagnostic(`Node-RED log (tail):\n${nodeRed.logs().slice(-4000)}`);
    throw err;
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        /* keep stopping the rest */
      }
    }
  }
});
