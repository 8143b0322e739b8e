/**
 * The tier-router edit dialog in a real editor (Node-RED 4.1 + headless Chromium):
 * the dialog opens without script errors, shows the rule and candidate lists, follows
 * a change of the number of tiers, and saves rules, chains and outputs that deploy.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNodeRed, type NodeRedInstance } from '../support/nodered-instance';
import { requireBinary, CHROMIUM } from '../support/services';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chromium } = require('playwright-core');

const FLOW = [
  { id: 'tab', type: 'tab', label: 'tiers' },
  {
    id: 'tr1',
    z: 'tab',
    type: 'tier-router',
    name: '',
    x: 200,
    y: 100,
    tiers: 3,
    outputs: 3,
    defaultTier: 2,
    routes: [[{ provider: 'nvidia-1', model: 'kimi-k2-thinking' }], [], []],
    wires: [[], [], []],
  },
];

// one Node-RED and one browser for both languages; each test starts from FLOW again
const bin = requireBinary(CHROMIUM);
let red: NodeRedInstance | null = null;
let browser: any = null;

before(async () => {
  if (!bin.ok) return;
  red = await startNodeRed({ flows: FLOW, withDashboard: false });
  browser = await chromium.launch({ executablePath: bin.path, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await red?.stop();
});

for (const locale of ['en-US', 'zh-CN']) {
  test(`editor dialog (${locale}): rules, chains, tier count and save`, { timeout: 90_000 }, async (t) => {
    if (!bin.ok) {
      t.skip(bin.reason);
      return;
    }
    if (!red) throw new Error('Node-RED did not start');
    await red.deploy(FLOW);
    const context = await browser.newContext({ locale });
    try {
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e: Error) => pageErrors.push(e.message));
      await page.goto(red.url);
      // wait until the flow is loaded with the tier-router definition (not as an unknown node)
      await page.waitForFunction(() => (window as any).RED?.nodes?.node?.('tr1')?._def?.category === 'LLM router', null, { timeout: 30_000 });

      const help = await page.evaluate(() => (window as any).$('script[data-help-name="tier-router"]').attr('type'));
      assert.equal(help, 'text/markdown');

      await page.evaluate(() => (window as any).RED.editor.edit((window as any).RED.nodes.node('tr1')));
      await page.waitForSelector('#node-input-rules-container .node-input-rule-type', { state: 'attached' });
      const state = await page.evaluate(() => {
        const $ = (window as any).$;
        return {
          rules: $('#node-input-rules-container').editableList('items').length,
          firstRuleType: $('#node-input-rules-container .node-input-rule-type').first().val(),
          chains: $('#node-input-chains .node-input-chain').length,
          firstProvider: $('#node-input-chains .node-input-chain-provider').first().val(),
          firstProviderText: $('#node-input-chains .node-input-chain-provider option:selected').first().text(),
          firstModel: $('#node-input-chains .node-input-chain-model').first().val(),
          tiersLabel: $('label[for="node-input-tiers"] span').text(),
          defaultTierOptions: $('#node-input-defaultTier option').length,
          defaultTier: $('#node-input-defaultTier').val(),
        };
      });
      assert.equal(state.rules, 8);
      assert.equal(state.firstRuleType, 'long-context');
      assert.equal(state.chains, 3);
      assert.equal(state.firstProvider, 'nvidia-1');
      assert.match(state.firstProviderText, locale === 'zh-CN' ? /未找到/ : /not found/);
      assert.equal(state.firstModel, 'kimi-k2-thinking');
      assert.equal(state.tiersLabel, locale === 'zh-CN' ? '层级数' : 'Tiers');
      assert.equal(state.defaultTierOptions, 3);
      assert.equal(state.defaultTier, '2');

      // four tiers: a fourth chain and a fourth default-tier choice appear; the first rule goes to tier 4
      await page.evaluate(() => {
        const $ = (window as any).$;
        $('#node-input-tiers').val('4').trigger('change');
        $('#node-input-rules-container .node-input-rule-tier').first().val('4');
        $('#node-input-rules-container .node-input-rule-value').first().val('120000');
      });
      const after = await page.evaluate(() => {
        const $ = (window as any).$;
        return { chains: $('#node-input-chains .node-input-chain').length, defaultTierOptions: $('#node-input-defaultTier option').length };
      });
      assert.deepEqual(after, { chains: 4, defaultTierOptions: 4 });
      // the chain entered before the change survives the re-render
      assert.equal(await page.evaluate(() => (window as any).$('#node-input-chains .node-input-chain-model').first().val()), 'kimi-k2-thinking');

      await page.evaluate(() => (window as any).$('#node-dialog-ok').trigger('click'));
      const saved = await page.evaluate(() => {
        const n = (window as any).RED.nodes.node('tr1');
        return { tiers: Number(n.tiers), outputs: Number(n.outputs), rules: n.rules, routes: n.routes, valid: n.valid };
      });
      assert.equal(saved.tiers, 4);
      assert.equal(saved.outputs, 4);
      assert.equal(saved.valid, true);
      assert.equal(saved.rules.length, 8);
      assert.deepEqual(saved.rules[0], { type: 'long-context', value: '120000', tier: 4, name: 'long context' });
      assert.deepEqual(saved.routes, [[{ provider: 'nvidia-1', model: 'kimi-k2-thinking' }], [], [], []]);
      assert.deepEqual(pageErrors, []);

      // the flow as the editor exports it deploys, and the node starts without configuration errors
      const exported = (await page.evaluate(() => (window as any).RED.nodes.createCompleteNodeSet())) as any[];
      await red.deploy(exported);
      const flows = (await red.request('GET', '/flows')).json() as any[];
      const deployed = flows.find((f) => f.id === 'tr1');
      assert.equal(Number(deployed.tiers), 4);
      assert.equal(deployed.wires.length, 4);
      assert.doesNotMatch(red.logs(), /configuration problem/);
    } finally {
      await context.close();
    }
  });
}
