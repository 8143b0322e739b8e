import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { nodeModule, repoRoot } from '../support/paths';
import { DEFAULT_TIER_RULES } from '../../engine/tiers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');

interface TestNode {
  on(event: 'input', cb: (msg: Record<string, any>) => void): void;
  receive(msg: Record<string, unknown>): void;
  error: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> };
  status: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> };
}

const tierRouter = nodeModule('tier-router');

const ROUTES = [
  [
    { provider: 'nvidia-1', model: 'kimi-k2-thinking' },
    { provider: 'nvidia-2', model: 'kimi-k2-thinking' },
    { provider: 'hunyuan', model: 'hunyuan-t1' },
  ],
  [
    { provider: 'hunyuan', model: 'hunyuan-turbos' },
    { provider: 'nvidia-1', model: 'deepseek-v3' },
    { provider: 'nvidia-2', model: 'deepseek-v3' },
  ],
  [
    { provider: 'hunyuan', model: 'hunyuan-lite' },
    { provider: 'nvidia-1', model: 'glm-4' },
    { provider: 'nvidia-2', model: 'glm-4' },
  ],
];

function flow(router: Record<string, unknown>, outputs = 3): Array<Record<string, unknown>> {
  const outs = Array.from({ length: outputs }, (_, i) => ({ id: `o${i + 1}`, z: 'tab', type: 'helper' }));
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'r', z: 'tab', type: 'tier-router', name: 'router', tiers: outputs, outputs, defaultTier: 2, routes: ROUTES, wires: outs.map((o) => [o.id]), ...router },
    ...outs,
    { id: 'c', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ];
}

/** Sends msgs one by one; resolves with where each one ended: [output index | 'catch', msg]. */
async function route(msgs: Array<Record<string, unknown>>, outputs = 3): Promise<Array<[number | 'catch', Record<string, any>]>> {
  const router = helper.getNode('r') as TestNode;
  const results: Array<[number | 'catch', Record<string, any>]> = [];
  let pending: ((v: [number | 'catch', Record<string, any>]) => void) | null = null;
  const arrive = (where: number | 'catch') => (msg: Record<string, any>) => {
    const p = pending;
    pending = null;
    if (p) p([where, msg]);
    else results.push([where, msg]); // unexpected extra message: recorded so the assertions see it
  };
  for (let i = 1; i <= outputs; i++) (helper.getNode(`o${i}`) as TestNode).on('input', arrive(i));
  (helper.getNode('caught') as TestNode).on('input', arrive('catch'));
  for (const m of msgs) {
    const got = await new Promise<[number | 'catch', Record<string, any>]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no output for ${JSON.stringify(m).slice(0, 80)}`)), 2000);
      pending = (v) => {
        clearTimeout(timer);
        resolve(v);
      };
      router.receive(m);
    });
    results.push(got);
  }
  return results;
}

before(() => {
  helper.init(require.resolve('node-red'));
});
afterEach(async () => {
  await helper.unload();
});
after(async () => {
  await helper.stopServer?.();
});

test('routes Chinese, Japanese and English requests to the output of their tier with the tier chain and a reason', async () => {
  await helper.load([tierRouter], flow({}));
  const res = await route([
    { payload: '请证明根号2是无理数' },
    { payload: { model: 'auto', messages: [{ role: 'user', content: '用Python写一个快速排序' }] } },
    { payload: 'こんにちは' },
    { payload: { messages: [{ role: 'user', content: 'hello' }], reasoning_effort: 'high' } },
  ]);
  assert.deepEqual(
    res.map(([where]) => where),
    [1, 2, 3, 1],
  );
  const [, proof] = res[0];
  assert.equal(proof.tier, 1);
  assert.deepEqual(proof.route, ROUTES[0]);
  assert.equal(proof.routing.tier, 1);
  assert.equal(proof.routing.rule, 'reasoning');
  assert.equal(proof.routing.reason, 'keyword "证明" matched rule "reasoning"');
  assert.ok(proof.routing.estimatedTokens > 10);
  assert.deepEqual(res[1][1].route, ROUTES[1]);
  assert.equal(res[1][1].routing.rule, 'code');
  assert.deepEqual(res[2][1].route, ROUTES[2]);
  assert.match(res[3][1].routing.reason, /request parameter "reasoning_effort" present/);
  // msg.route is a copy: changing it does not change the next message's route
  (res[0][1].route as Array<{ model: string }>)[0].model = 'changed';
  const again = await route([{ payload: '请推理一下' }]);
  assert.equal(again[0][1].route[0].model, 'kimi-k2-thinking');
});

test('an explicit msg.tier wins; an invalid one is ignored and said so in the reason', async () => {
  await helper.load([tierRouter], flow({}));
  const res = await route([
    { payload: '请证明费马大定理', tier: 3 },
    { tier: 2 }, // no payload is fine with an explicit tier
    { payload: '请证明费马大定理', tier: 9 },
  ]);
  assert.deepEqual(
    res.map(([where, m]) => [where, m.tier, m.routing.rule]),
    [
      [3, 3, 'explicit'],
      [2, 2, 'explicit'],
      [1, 1, 'reasoning'],
    ],
  );
  assert.equal(res[0][1].routing.reason, 'explicit msg.tier = 3');
  assert.match(res[2][1].routing.reason, /msg\.tier 9 ignored/);
});

test('bad input reaches a Catch node with a clear error and the next message still routes', async () => {
  await helper.load([tierRouter], flow({}));
  const res = await route([
    { payload: 42 },
    { payload: { messages: [{ role: 'user', content: { text: 'x' } }] } },
    {},
    { payload: '你好' },
  ]);
  assert.deepEqual(
    res.map(([where]) => where),
    ['catch', 'catch', 'catch', 3],
  );
  assert.match(res[0][1].error.message, /msg\.payload is a number: expected an OpenAI chat request body/);
  assert.match(res[1][1].error.message, /messages\[0\]\.content must be a string or an array of content parts/);
  assert.match(res[2][1].error.message, /msg\.payload is missing/);
  assert.equal(res[3][1].routing.reason, 'keyword "你好" matched rule "simple"');
});

test('invalid rules: error and red status at deploy, routing continues with the valid rules', async () => {
  await helper.load(
    [tierRouter],
    flow({
      timezone: 'Asia/Shanghai',
      rules: [
        { type: 'regex', value: '([broken', tier: 1, name: 'broken' },
        { type: 'time', value: '00:00-07:00', tz: 'Nowhere/Town', tier: 3, name: 'night' },
        { type: 'keyword', value: '证明|推理', tier: 1, name: 'reasoning' },
        { type: 'keyword', value: '翻译|你好', tier: 3, name: 'simple' },
      ],
    }),
  );
  const router = helper.getNode('r') as TestNode;
  const errors = router.error.getCalls().filter((c) => c.thisValue === router);
  assert.equal(errors.length, 1);
  const text = String(errors[0].args[0]);
  assert.match(text, /invalid regular expression/);
  assert.match(text, /unknown timezone "Nowhere\/Town"/);
  const statuses = router.status.getCalls().filter((c) => c.thisValue === router);
  assert.equal((statuses[0].args[0] as { fill: string }).fill, 'red');

  const res = await route([{ payload: '翻译这句话' }, { payload: '推理题' }, { payload: 'write a poem' }]);
  assert.deepEqual(
    res.map(([where, m]) => [where, m.routing.rule]),
    [
      [3, 'simple'],
      [1, 'reasoning'],
      [2, 'default'],
    ],
  );
});

test('time window rule routes by the clock in its timezone', async () => {
  // a window covering the whole day in one timezone and none of it in another, so the test does not depend on the hour
  await helper.load(
    [tierRouter],
    flow({
      rules: [
        { type: 'time', value: '00:00-24:00', tz: 'Asia/Shanghai', tier: 3, name: 'always' },
        { type: 'keyword', value: 'x', tier: 1 },
      ],
    }),
  );
  const res = await route([{ payload: 'x' }]);
  assert.equal(res[0][0], 3);
  assert.match(res[0][1].routing.reason, /^time \d\d:\d\d Asia\/Shanghai within 00:00-24:00 \(rule "always"\)$/);
});

test('five tiers give five outputs; a tier without candidates gets an empty route', async () => {
  await helper.load(
    [tierRouter],
    flow({ tiers: 5, outputs: 5, defaultTier: 5, rules: [{ type: 'keyword', value: 'four', tier: 4, name: 'four' }] }, 5),
  );
  const res = await route([{ payload: 'route to four' }, { payload: 'anything else' }], 5);
  assert.deepEqual(
    res.map(([where, m]) => [where, m.tier, m.route]),
    [
      [4, 4, []],
      [5, 5, []],
    ],
  );
});

test('the editor defaults equal the engine default rules, and help and messages exist in both languages', () => {
  const html = fs.readFileSync(path.join(repoRoot, 'nodes', 'tier-router', 'tier-router.html'), 'utf8');
  const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html)![1];
  let def: Record<string, any> | null = null;
  vm.runInNewContext(script, {
    RED: {
      nodes: {
        registerType: (type: string, d: Record<string, any>) => {
          assert.equal(type, 'tier-router');
          def = d;
        },
      },
    },
  });
  assert.ok(def);
  const d = def as Record<string, any>;
  assert.equal(d.category, 'LLM router');
  assert.deepEqual(JSON.parse(JSON.stringify(d.defaults.rules.value)), JSON.parse(JSON.stringify(DEFAULT_TIER_RULES)));
  assert.equal(d.defaults.rules.validate.call({ tiers: 3 }, d.defaults.rules.value), true);
  assert.equal(d.defaults.rules.validate.call({ tiers: 3 }, [{ type: 'regex', value: '([x', tier: 1 }]), false);
  assert.equal(d.defaults.rules.validate.call({ tiers: 2 }, [{ type: 'keyword', value: 'a', tier: 3 }]), false);
  assert.equal(d.outputs, 3);
  for (const lang of ['en-US', 'zh-CN']) {
    const dir = path.join(repoRoot, 'nodes', 'tier-router', 'locales', lang);
    const help = fs.readFileSync(path.join(dir, 'tier-router.html'), 'utf8');
    assert.match(help, /<script type="text\/markdown" data-help-name="tier-router">/);
    const messages = JSON.parse(fs.readFileSync(path.join(dir, 'tier-router.json'), 'utf8'));
    for (const key of ['ready', 'invalid', 'routed']) assert.ok(messages['tier-router'].status[key], `${lang} status.${key}`);
    assert.ok(messages['tier-router'].errors.config);
    // every data-i18n key used by the dialog exists
    for (const m of html.matchAll(/data-i18n="(?:\[placeholder\])?tier-router\.label\.([\w.]+)"/g)) {
      assert.ok(messages['tier-router'].label[m[1]], `${lang} label.${m[1]}`);
    }
  }
});
