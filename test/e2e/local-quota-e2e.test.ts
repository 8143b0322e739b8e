/**
 * The "Quota without One API (local ledger)" example in a real Node-RED against the provider
 * simulator: answers are recorded in the router's usage ledger, the used-up model's local
 * channels go to priority 0 once, llm-call-with-fallback then skips that candidate and the next
 * one answers, and the reset puts the baseline back so the first candidate answers again.
 * No API key appears in the exported flows, the log or any debug message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/paths';
import { sleep } from '../support/ports';
import { startNodeRed, type NodeRedInstance } from '../support/nodered-instance';
import { watchComms, type CommsWatch, type DebugMsg } from '../support/comms-watch';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { demoAccounts, DEMO_KEYS } from '../../simulators/provider/demo-accounts';
import { demoAccountFor } from '../../tools/demo';

const EXAMPLE = path.join(repoRoot, 'examples', '04 Quota without One API (local ledger).json');
const example: any[] = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8'));
const node = (type: string, name?: string): any => {
  const n = example.find((x) => x.type === type && (name === undefined || x.name === name));
  assert.ok(n, `the example has a ${type}${name ? ` named "${name}"` : ''}`);
  return n;
};

const TRAFFIC = node('inject', 'a prompt every 5 s').id as string;
const POLL = node('inject', 'every minute').id as string;
const RESET = node('inject', 'reset now').id as string;
const USAGE = node('usage-fetch').id as string;
const CALL = node('llm-call-with-fallback');
const QUOTA = node('quota-check');
const FIRST = 'NVIDIA account 1';
const DEEPSEEK = 'deepseek-ai/deepseek-r1';
const HUNYUAN = 'hunyuan-turbos-latest';
/** small enough for a few calls to use it up */
const TEST_LIMIT = 3;

let sim: ProviderSimulator;
let red: NodeRedInstance;
let comms: CommsWatch;
const keys = Object.values(DEMO_KEYS);

/**
 * The example as shipped, with: the providers pointed at the simulator (keys as credentials),
 * injects fired only through the admin API, the DeepSeek allowance cut to TEST_LIMIT requests,
 * debug nodes showing whole messages, and one extra debug node on the usage-fetch output.
 */
function prepare(simUrl: string): { flows: any[]; credentials: Record<string, Record<string, string>> } {
  const credentials: Record<string, Record<string, string>> = {};
  const flows = example.map((n) => {
    const c = JSON.parse(JSON.stringify(n));
    if (c.type === 'llm-provider') {
      const account = demoAccountFor(c.name);
      assert.ok(account, `no simulated account for provider "${c.name}"`);
      Object.assign(c, { baseUrl: simUrl, timeout: 5 });
      credentials[c.id] = { apiKey: DEMO_KEYS[account] };
    }
    if (c.type === 'inject') Object.assign(c, { repeat: '', once: false });
    if (c.type === 'debug') Object.assign(c, { complete: 'true', targetType: 'full' });
    if (c.type === 'quota-check') {
      c.allowances = c.allowances.map((a: any) => (a.model === DEEPSEEK ? { ...a, limit: TEST_LIMIT } : a));
    }
    if (c.id === USAGE) c.wires = [[...c.wires[0], 'usage-rows-test']];
    return c;
  });
  const usage = node('usage-fetch');
  flows.push({
    id: 'usage-rows-test',
    type: 'debug',
    z: usage.z,
    name: 'usage rows (test)',
    active: true,
    tosidebar: true,
    console: false,
    tostatus: false,
    complete: 'true',
    targetType: 'full',
    x: usage.x + 220,
    y: usage.y + 260,
    wires: [],
  });
  return { flows, credentials };
}

async function inject(id: string): Promise<void> {
  const r = await red.request('POST', `/inject/${id}`);
  assert.equal(r.status, 200, `inject ${id}: HTTP ${r.status}`);
}

/** Fires the traffic inject and returns the answer it produced. */
async function ask(): Promise<DebugMsg> {
  const before = comms.from('answer').length;
  await inject(TRAFFIC);
  const answers = await comms.wait('answer', before + 1);
  return answers[before];
}

/** Fires the poll inject and returns the usage rows and the quota report it produced. */
async function poll(): Promise<{ rows: any[]; report: any[] }> {
  const nRows = comms.from('usage rows (test)').length;
  const nReports = comms.from('quota report').length;
  await inject(POLL);
  const rows = (await comms.wait('usage rows (test)', nRows + 1))[nRows].msg;
  const report = (await comms.wait('quota report', nReports + 1))[nReports].msg;
  assert.equal(rows.source, 'local');
  return { rows: rows.payload, report: report.payload };
}

const applied = (): any[] => comms.from('changes applied').map((d) => d.msg.payload);
const rowOf = (rows: any[], model: string): any => rows.find((r) => r.model === model);
const requestsTo = (account: keyof typeof DEMO_KEYS): number => sim.stats(DEMO_KEYS[account]).requests;

before(async () => {
  sim = await startProviderSimulator({ accounts: demoAccounts({ SIM_LATENCY_SCALE: '0.02' }), port: 0, host: '127.0.0.1' });
  const { flows, credentials } = prepare(sim.url);
  red = await startNodeRed({ flows, credentials, withDashboard: false, settings: { debugMaxLength: 200000 } });
  comms = await watchComms(red.port);
  await sleep(300);
});

after(async () => {
  try {
    comms?.close();
  } finally {
    try {
      await red?.stop();
    } finally {
      await sim?.close();
    }
  }
});

test('the example has no credentials, no function nodes, and the parts the local pipeline needs', () => {
  const text = fs.readFileSync(EXAMPLE, 'utf8');
  for (const k of keys) assert.ok(!text.includes(k), 'an API key in the example');
  assert.ok(!example.some((n) => 'credentials' in n), 'a credentials property in the example');
  assert.ok(!example.some((n) => n.type === 'function'), 'a function node in the example');
  assert.equal(node('usage-fetch').source, 'local');
  assert.equal(QUOTA.mode, 'local');
  assert.ok(example.filter((n) => n.type === 'priority-set').every((n) => n.target === 'local'));
  assert.equal(node('reset-schedule').cron, '20 2 * * *');
  assert.ok(example.filter((n) => n.type === 'comment').length >= 3, 'comments explain the flow');
  const names = example.filter((n) => n.type === 'llm-provider').map((n) => n.name);
  assert.deepEqual(names, ['NVIDIA account 1', 'NVIDIA account 2', 'Hunyuan']);
  const providerName = (id: string): string => example.find((n) => n.id === id)?.name;
  assert.deepEqual(
    CALL.chain.map((c: any) => [providerName(c.provider), c.model]),
    [
      [FIRST, DEEPSEEK],
      ['Hunyuan', HUNYUAN],
    ],
  );
});

test('local ledger -> demote once -> skip -> reset restores the first candidate', async () => {
  // The first candidate answers while its allowance lasts; every answer is recorded.
  for (let i = 0; i < TEST_LIMIT; i++) {
    const a = await ask();
    assert.equal(a.msg.llm.provider, FIRST);
    assert.equal(a.msg.llm.model, DEEPSEEK);
    assert.match(a.msg.payload, /^\[nvidia-1\/deepseek-ai\/deepseek-r1\] /, 'the simulator names the account and model that answered');
    assert.equal(typeof a.msg.llm.usage?.totalTokens, 'number');
  }
  assert.equal(requestsTo('nvidia-1'), TEST_LIMIT);
  assert.equal(requestsTo('hunyuan'), 0);

  // The poll reads the ledger and demotes every local channel of the used-up model, once.
  const first = await poll();
  const ds = rowOf(first.rows, DEEPSEEK);
  assert.ok(ds, `a ledger row for ${DEEPSEEK}: ${JSON.stringify(first.rows)}`);
  assert.equal(ds.requests, TEST_LIMIT);
  assert.ok(ds.totalTokens > 0);
  assert.match(ds.day, /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(rowOf(first.rows, HUNYUAN), undefined, 'no Hunyuan usage yet');
  const dsReport = first.report.find((r: any) => r.model === DEEPSEEK);
  assert.deepEqual([dsReport.used, dsReport.limit, dsReport.unit, dsReport.state], [TEST_LIMIT, TEST_LIMIT, 'requests', 'exhausted']);
  assert.equal(first.report.find((r: any) => r.model === HUNYUAN).state, 'ok');

  const demoted = [`${FIRST}/${DEEPSEEK}`, `NVIDIA account 2/${DEEPSEEK}`];
  const changes = (await comms.wait('changes applied', 2)).map((d) => d.msg.payload);
  assert.deepEqual(
    changes.map((c) => [c.id, c.field, c.old, c.new, c.verified]).sort(),
    demoted.map((id) => [id, 'priority', 1, 0, true]).sort(),
  );
  const [alert] = await comms.wait('alerts', 1);
  assert.deepEqual([alert.msg.payload.model, alert.msg.payload.kind], [DEEPSEEK, 'exhausted']);

  // The next poll writes nothing and raises no second alert.
  const second = await poll();
  assert.equal(second.report.find((r: any) => r.model === DEEPSEEK).state, 'exhausted');
  await sleep(300);
  assert.equal(applied().length, 2, 'no repeated write');
  assert.equal(comms.from('demotions').length, 2);
  assert.equal(comms.from('alerts').length, 1, 'no repeated alert');

  // The call node skips the demoted candidate without calling it; Hunyuan answers.
  const skipped = await ask();
  assert.equal(skipped.msg.llm.provider, 'Hunyuan');
  assert.equal(skipped.msg.llm.model, HUNYUAN);
  assert.match(skipped.msg.payload, /^\[hunyuan\/hunyuan-turbos-latest\] /);
  const [skip] = skipped.msg.llm.attempts;
  assert.deepEqual([skip.provider, skip.model, skip.outcome, skip.code], [FIRST, DEEPSEEK, 'skipped', 'priority_zero']);
  assert.match(skip.message, /local priority is 0/);
  assert.equal(requestsTo('nvidia-1'), TEST_LIMIT, 'nothing sent to the demoted channel');
  assert.equal(requestsTo('hunyuan'), 1);

  const third = await poll();
  assert.equal(rowOf(third.rows, HUNYUAN)?.requests, 1, 'the fallback answer is in the ledger too');
  assert.equal(rowOf(third.rows, DEEPSEEK).requests, TEST_LIMIT);
  await sleep(300);
  assert.equal(applied().length, 2);

  // The reset puts every channel of the baseline table back; the first candidate answers again.
  await inject(RESET);
  const restored = (await comms.wait('changes applied', 2 + 3)).slice(2).map((d) => d.msg.payload);
  assert.deepEqual(
    restored.map((c) => [c.id, c.old, c.new]).sort(),
    [...demoted.map((id) => [id, 0, 1]), [`Hunyuan/${HUNYUAN}`, 1, 1]].sort(),
  );
  const again = await ask();
  assert.equal(again.msg.llm.provider, FIRST);
  assert.match(again.msg.payload, /^\[nvidia-1\/deepseek-ai\/deepseek-r1\] /);
  assert.deepEqual(
    again.msg.llm.attempts.map((a: any) => a.outcome),
    ['ok'],
  );
  assert.equal(requestsTo('nvidia-1'), TEST_LIMIT + 1);

  // The reset did not forgive today's usage: the next poll demotes the model again, once.
  const fourth = await poll();
  assert.equal(rowOf(fourth.rows, DEEPSEEK).requests, TEST_LIMIT + 1);
  const redemoted = (await comms.wait('changes applied', 5 + 2)).slice(5).map((d) => d.msg.payload);
  assert.deepEqual(redemoted.map((c) => [c.id, c.old, c.new]).sort(), demoted.map((id) => [id, 1, 0]).sort());

  assert.equal(comms.from('failed changes').length, 0);
  assert.equal(comms.from('emergency').length, 0);
  assert.equal(comms.from('errors').length, 0, JSON.stringify(comms.from('errors').map((d) => d.msg.error)));

  // No API key in the exported flows, the log, or anything the editor received.
  const flows = await red.request('GET', '/flows');
  assert.equal(flows.status, 200);
  assert.ok(flows.body.includes('llm-provider'));
  for (const k of keys) {
    assert.ok(!flows.body.includes(k), 'an API key in GET /flows');
    assert.ok(!red.logs().includes(k), 'an API key in the Node-RED log');
    assert.ok(!comms.text().includes(k), 'an API key in a debug message or status');
  }
});
