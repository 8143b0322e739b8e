import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import vm from 'node:vm';
import { nodeModule, repoRoot } from '../support/paths';
import { sleep, waitFor } from '../support/ports';
import { setProviderSnapshotSource } from '../../engine/dashboard/providers';
import { STATE_COLORS } from '../../engine/dashboard/board';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');

interface TestNode {
  on(event: 'input', cb: (msg: Record<string, any>) => void): void;
  receive(msg: Record<string, unknown>): void;
  status: { getCalls(): Array<{ thisValue: unknown; args: any[] }> };
}

const boardModule = nodeModule('quota-board') as (red: any) => void;
const feedModule = nodeModule('llm-dashboard-feed');
const HOSTILE = '<img src=x onerror=alert(1)>';

function dashboardNode(file: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(repoRoot, 'node_modules', 'node-red-dashboard', 'nodes', file));
}

interface Captured {
  options: Record<string, any> | null;
  converted: Array<{ msg: Record<string, any>; rows: any[] }>;
}

/**
 * The quota-board module with RED.require('node-red-dashboard') answered by the real
 * node-red-dashboard package (the test helper does not register installed modules), wrapped
 * to record the widget options and what convert() produced for each message.
 */
function boardWithDashboard(captured: Captured): (red: any) => void {
  return (red: any) => {
    const original = red.require;
    red.require = (name: string) => {
      if (name !== 'node-red-dashboard') return original(name);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const real = require('node-red-dashboard');
      return (r: unknown) => {
        const api = real(r);
        return {
          ...api,
          addWidget: (options: Record<string, any>) => {
            const convert = options.convert;
            captured.options = options;
            options.convert = (value: unknown, old: unknown, msg: Record<string, any>) => {
              const rows = convert(value, old, msg);
              captured.converted.push({ msg: { ...msg }, rows });
              return rows;
            };
            return api.addWidget(options);
          },
        };
      };
    };
    return boardModule(red);
  };
}

function report(model: string, used: number, limit: number, state: string, priority: number | null = null): Record<string, unknown> {
  return { model, used, limit, unit: 'tokens', percent: (used / limit) * 100, state, channels: [1], priority };
}

before(() => {
  helper.init(require.resolve('node-red'));
});

afterEach(async () => {
  setProviderSnapshotSource(null);
  await helper.unload();
});

after(async () => {
  await helper.stopServer().catch(() => undefined);
});

test('without node-red-dashboard the board says so, takes input without errors, and other nodes still work', async () => {
  const flow = [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'qb', z: 'tab', type: 'quota-board', group: 'g1', order: 1, width: 0, height: 0, wires: [] },
    { id: 'feed', z: 'tab', type: 'llm-dashboard-feed', liveInterval: 0, replayOnStart: false, wires: [['usage']] },
    { id: 'usage', z: 'tab', type: 'helper' },
    { id: 'c', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ];
  await helper.load([boardModule, feedModule], flow);
  const qb = helper.getNode('qb') as TestNode;
  assert.ok(qb, 'the board node starts');
  await waitFor(() => qb.status.getCalls().some((c) => c.thisValue === qb && c.args[0]?.text === 'quota-board.status.noDashboard'), 2000, 10, 'status');
  const caught: unknown[] = [];
  (helper.getNode('caught') as TestNode).on('input', (m) => caught.push(m));
  const usage: unknown[] = [];
  (helper.getNode('usage') as TestNode).on('input', (m) => usage.push(m));
  qb.receive({ payload: [report(HOSTILE, 5, 10, 'ok')] });
  qb.receive({ payload: 'garbage' });
  (helper.getNode('feed') as TestNode).receive({ payload: [report('glm', 5, 10, 'ok')] });
  await waitFor(() => usage.length === 1, 2000, 10, 'feed output');
  await sleep(50);
  assert.equal(caught.length, 0);
});

test('with node-red-dashboard: one row per model, sorted, coloured; hostile names stay data for text bindings only', async () => {
  await helper.startServer();
  const captured: Captured = { options: null, converted: [] };
  const flow = [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'base', type: 'ui_base', theme: {}, site: { name: 'Test' } },
    { id: 'uitab', type: 'ui_tab', name: 'LLM', icon: 'dashboard', order: 1 },
    { id: 'g1', type: 'ui_group', name: 'Quota', tab: 'uitab', order: 1, disp: true, width: '6' },
    { id: 'qb', z: 'tab', type: 'quota-board', group: 'g1', order: 1, width: 0, height: 0, wires: [] },
    { id: 'c', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ];
  setProviderSnapshotSource(() => [
    { id: 'p1', name: 'nvidia-1', rpmUsed: 0, rpmLimit: 40, inFlight: 0, maxConcurrent: 5, queued: 0, breakers: [{ model: 'GLM-4-7-251222', state: 'open', failures: 5 }], healthy: null, shared: null, successRate: null, p50LatencyMs: null },
  ]);
  await helper.load([dashboardNode('ui_base.js'), dashboardNode('ui_tab.js'), dashboardNode('ui_group.js'), boardWithDashboard(captured)], flow);
  const qb = helper.getNode('qb') as TestNode;
  assert.ok(captured.options, 'the widget was added to the dashboard');
  const caught: Array<Record<string, any>> = [];
  (helper.getNode('caught') as TestNode).on('input', (m) => caught.push(m));

  qb.receive({
    payload: [report('glm-4-7-251222', 1, 100, 'ok', 5), report(HOSTILE, 300, 100, 'exhausted', 0), report('Kimi', 85, 100, 'warn', 3)],
    ui_control: { format: '<script>alert(2)</script>' },
    template: '<b>replaced</b>',
  });
  qb.receive({ payload: report('GLM-4-7-251222', 50, 100, 'ok', 5) });
  await waitFor(() => captured.converted.length === 2, 2000, 10, 'two conversions');
  const first = captured.converted[0];
  assert.equal(first.msg.ui_control, undefined, 'msg.ui_control never reaches the dashboard (it could replace the template)');
  assert.equal(first.msg.template, undefined);
  const rows = captured.converted[1].rows;
  assert.deepEqual(
    rows.map((r: any) => [r.model, r.state, r.color, r.barWidth, r.priority, r.breaker]),
    [
      [HOSTILE, 'exhausted', STATE_COLORS.exhausted, 100, '0', ''],
      ['GLM-4-7-251222', 'ok', STATE_COLORS.ok, 50, '5', 'open: nvidia-1'],
      ['Kimi', 'warn', STATE_COLORS.warn, 85, '3', ''],
    ],
  );
  // what goes to the browser: only the rows and the labels, nothing else of the input message
  const emitted = captured.options!.beforeEmit({ payload: 'x', template: '<b>t</b>', ui_control: { format: 'y' } }, rows);
  assert.deepEqual(Object.keys(emitted.msg).sort(), ['labels', 'payload']);
  assert.equal(emitted.msg.payload[0].model, HOSTILE, 'the name is data; the template binds it as text');

  // the template shows every text with ng-bind (textContent): no interpolation, no HTML binding
  const format = String(captured.options!.format);
  assert.ok(!format.includes('{{'), 'no {{ }} interpolation in the template');
  assert.ok(!/ng-bind-html|ng-include|innerHTML/i.test(format));
  for (const field of ['r.model', 'r.percentText', 'r.usedText', 'r.priority', 'r.breaker']) assert.ok(format.includes(`ng-bind="${field}"`), field);
  const ngAttrs = format.match(/ng-[a-z-]+="[^"]*"/g) ?? [];
  for (const a of ngAttrs) assert.match(a, /^ng-(bind|if|repeat|class|style)=/, `only text/structure directives: ${a}`);

  // initController is sent as source text and evaluated alone in the browser
  const source = String(captured.options!.initController);
  const ctrl = vm.runInNewContext(`(${source})`, {});
  const watchers: Record<string, (v: unknown) => void> = {};
  const scope: Record<string, any> = { $watch: (k: string, fn: (v: unknown) => void) => (watchers[k] = fn) };
  ctrl(scope, {});
  watchers.msg({ payload: rows, labels: emitted.msg.labels });
  assert.equal(scope.rows, rows);
  assert.equal(scope.labels.priority, 'quota-board.label.priority');
  watchers.msg({ payload: 'not rows' });
  assert.equal(scope.rows.length, 0, 'anything but an array of rows shows an empty board');

  qb.receive({ payload: 'garbage' });
  await waitFor(() => caught.length === 1, 2000, 10, 'bad input reaches Catch');
  assert.match(String(caught[0].error.message), /expected quota-check reports/);
  qb.receive({ topic: 'clear' });
  await waitFor(() => captured.converted.length >= 4 && captured.converted[captured.converted.length - 1].rows.length === 0, 2000, 10, 'clear');
});
