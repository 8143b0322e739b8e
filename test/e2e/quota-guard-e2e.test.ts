/**
 * The quota-guard example flow in a real Node-RED against the One API simulator, once per
 * simulated server generation: demotion of exactly the exhausted channel (once), the
 * multi-model flag, the daily reset restoring every baseline, dry run writing nothing, and
 * the access token appearing in no exported flow, log line or message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/paths';
import { sleep, waitFor } from '../support/ports';
import { startNodeRed, type NodeRedInstance } from '../support/nodered-instance';
import { watchComms, type CommsWatch, type DebugMsg } from '../support/comms-watch';
import { FLAVOURS, TOKEN } from '../support/oneapi-fixtures';
import { startOneApiSimulator, demoChannels, DEMO_BASELINE_PRIORITIES, type OneApiSimulator } from '../../simulators/oneapi';

const EXAMPLE = path.join(repoRoot, 'examples', '01 Quota guard (One API).json');
const example: any[] = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8'));
const byName = (type: string, name?: string) => example.find((n) => n.type === type && (name === undefined || n.name === name));
const POLL = byName('inject', 'every 5 min').id as string;
const RESET = byName('inject', 'reset now').id as string;

let red: NodeRedInstance;
let comms: CommsWatch;

/** The example with the server pointed at `url`, the poll inject manual-only, days in UTC, debug nodes capturing whole messages. */
function prepare(url: string, dryRun: boolean): any[] {
  return example.map((n) => {
    const c = JSON.parse(JSON.stringify(n));
    if (c.type === 'oneapi-server') Object.assign(c, { baseUrl: url, dryRun, timeout: 3000, credentials: { accessToken: TOKEN, userId: '1' } });
    if (c.type === 'inject') Object.assign(c, { repeat: '', once: false });
    if (c.type === 'usage-fetch' || c.type === 'reset-schedule') c.timezone = 'UTC';
    if (c.type === 'debug') Object.assign(c, { complete: 'true', targetType: 'full' });
    return c;
  });
}

const from = (name: string): DebugMsg[] => comms.from(name);
const waitDebug = (name: string, n: number, timeoutMs = 8000): Promise<DebugMsg[]> => comms.wait(name, n, timeoutMs);
const priorityWrites = (sim: OneApiSimulator) =>
  sim.writes().filter((w) => (w.method === 'PUT' && w.path.startsWith('/api/channel')) || (w.method === 'POST' && /\/api\/channel\/\d+\/status/.test(w.path)));

async function inject(id: string): Promise<void> {
  const r = await red.request('POST', `/inject/${id}`);
  assert.equal(r.status, 200, `inject ${id}: HTTP ${r.status}`);
}

before(async () => {
  red = await startNodeRed({ flows: [], withDashboard: false, settings: { debugMaxLength: 200000 } });
  comms = await watchComms(red.port);
});

after(async () => {
  try {
    comms?.close();
  } finally {
    await red?.stop();
  }
});

for (const flavour of FLAVOURS) {
  test(`quota guard example against ${flavour}: demote once, flag multi-model, reset baselines, dry run, no token`, async () => {
    const sim = await startOneApiSimulator({ flavour, accessToken: TOKEN, userId: 1, channels: demoChannels() });
    try {
      comms.debug.length = 0;
      // Start from an empty workspace: deleting the nodes also forgets the guard's remembered states.
      await red.deploy([]);
      await red.deploy(prepare(sim.url, false));
      await sleep(300);

      // DeepSeek past its 1.9M allowance: exactly its channel (id 1) goes to 0.
      sim.addUsage({ model: 'deepseek-v3-2-251201', promptTokens: 1_500_000, completionTokens: 500_000, requests: 40 });
      sim.addUsage({ model: 'glm-4-7-251222', promptTokens: 100_000, completionTokens: 20_000 });
      await inject(POLL);
      const [applied] = await waitDebug('changes applied', 1);
      assert.deepEqual(
        { id: applied.msg.payload.id, field: applied.msg.payload.field, old: applied.msg.payload.old, new: applied.msg.payload.new, verified: applied.msg.payload.verified },
        { id: 1, field: 'priority', old: 7, new: 0, verified: true },
      );
      let writes = priorityWrites(sim);
      assert.equal(writes.length, 1);
      assert.deepEqual(writes[0].body, { id: 1, priority: 0 });
      assert.equal(sim.channels().find((c) => c.id === 1)?.priority, 0);
      const [report] = await waitDebug('quota report', 1);
      const ds = report.msg.payload.find((r: any) => r.model === 'DeepSeek-V3-2-251201');
      assert.equal(ds.state, 'exhausted');
      assert.equal(ds.used, 2_000_000);
      const kimiReport = report.msg.payload.find((r: any) => r.model === 'Kimi-K2-Thinking-251104');
      assert.equal(kimiReport.multiModel, true, 'the Kimi channel also carries kimi-k2-turbo-preview');
      const alerts = await waitDebug('alerts', 1);
      assert.deepEqual(alerts.map((a) => [a.msg.payload.model, a.msg.payload.kind]), [['DeepSeek-V3-2-251201', 'exhausted']]);

      // The next poll writes nothing.
      await inject(POLL);
      await waitDebug('quota report', 2);
      await sleep(300);
      assert.equal(priorityWrites(sim).length, 1);
      assert.equal(from('alerts').length, 1, 'no repeated alert');

      // Kimi past its allowance: its channel carries two models, the change says so.
      sim.addUsage({ model: 'Kimi-K2-Thinking-251104', promptTokens: 1_000_000, completionTokens: 950_000 });
      await inject(POLL);
      const [dem] = (await waitDebug('demotions', 2)).filter((d) => d.msg.payload.id === 5);
      assert.equal(dem.msg.payload.multiModel, true);
      assert.deepEqual(dem.msg.payload.models, ['kimi-k2-thinking-251104', 'kimi-k2-turbo-preview']);
      await waitFor(() => sim.channels().find((c) => c.id === 5)?.priority === 0, 5000, 20, 'channel 5 demoted');
      assert.equal(priorityWrites(sim).length, 2);

      // The daily reset restores every channel's baseline.
      await inject(RESET);
      const baselineById: Record<number, number> = {};
      for (const c of demoChannels()) baselineById[c.id] = DEMO_BASELINE_PRIORITIES[c.models[0]];
      await waitFor(() => sim.channels().every((c) => c.priority === baselineById[c.id]), 8000, 20, 'every baseline restored');
      assert.deepEqual(Object.values(baselineById), [7, 6, 5, 4, 3, 1]);
      await waitDebug('changes applied', 2 + 6);
      assert.equal(from('failed changes').length, 0);
      assert.equal(from('quota guard errors').length, 0, JSON.stringify(from('quota guard errors').map((d) => d.msg.error)));

      // Dry run on the server: the guard reports the demotion and the reset, and writes nothing.
      sim.reset();
      comms.debug.length = 0;
      await red.deploy(prepare(sim.url, true));
      await sleep(300);
      sim.addUsage({ model: 'deepseek-v3-2-251201', promptTokens: 2_000_000, completionTokens: 0 });
      await inject(POLL);
      const [dry] = await waitDebug('changes applied', 1);
      assert.deepEqual([dry.msg.payload.id, dry.msg.payload.new, dry.msg.payload.dryRun], [1, 0, true]);
      await inject(RESET);
      const all = await waitDebug('changes applied', 7);
      assert.ok(all.every((d) => d.msg.payload.dryRun === true));
      writes = priorityWrites(sim);
      assert.equal(writes.length, 0, 'dry run wrote nothing');
      assert.equal(sim.channels().find((c) => c.id === 1)?.priority, 7);

      // The token is nowhere: exported flows, logs, debug messages, statuses.
      const flows = await red.request('GET', '/flows');
      assert.equal(flows.status, 200);
      assert.ok(flows.body.includes('oneapi-server'));
      assert.ok(!flows.body.includes(TOKEN), 'token in GET /flows');
      assert.ok(!red.logs().includes(TOKEN), 'token in the Node-RED log');
      assert.ok(!comms.text().includes(TOKEN), 'token in a debug message or status');
      assert.ok(!comms.text().includes('demo-key') && !red.logs().includes('demo-key'), 'a channel key leaked');
    } finally {
      await sim.close();
    }
  });
}
