/**
 * The editor as a new user meets it: a real Node-RED 4.1 with this package and Dashboard 1
 * installed (tools/nodered-launcher), opened in headless Chromium in English and in
 * Chinese. Every node type of the package is in the palette; its edit dialog opens (its
 * oneditprepare runs without throwing, inputs are rendered, no untranslated message keys
 * show) and cancels; its help renders in English and, differently, in Chinese; every
 * example imports with no unknown node; no page or console errors along the way.
 * Screenshot: test-output/editor-quota-guard.png (the quota guard example imported).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNodeRed, type NodeRedInstance } from '../support/nodered-instance';
import { launchBrowser, newPage, screenshot, type Browser, type CollectedPage } from '../support/browser';
import { ourNodeTypes, readExamples } from '../support/package-files';

const types = ourNodeTypes();
const examples = readExamples();
const CJK = /[\u4e00-\u9fff]/;

let red: NodeRedInstance | null = null;
let browser: Browser | null = null;
let skipped = '';
const pages: Record<string, CollectedPage> = {};

async function openEditor(locale: string): Promise<CollectedPage> {
  assert.ok(browser && red);
  const page = await newPage(browser, { collectErrors: true, locale });
  await page.goto(red.url, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => (window as any).RED?.nodes?.getType && (window as any).$ && document.querySelector('#red-ui-palette .red-ui-palette-node'), null, { timeout: 30_000 });
  const missing = await page
    .waitForFunction((ts: string[]) => ts.every((t) => (window as any).RED.nodes.getType(t)), types.map((t) => t.type), { timeout: 15_000 })
    .then(
      () => [] as string[],
      () => page.evaluate((ts: string[]) => ts.filter((t) => !(window as any).RED.nodes.getType(t)), types.map((t) => t.type)),
    );
  assert.deepEqual(missing, [], `types not registered in the ${locale} editor`);
  // Record oneditprepare runs and throws (the editor only console.logs a throwing oneditprepare).
  await page.evaluate((ts: string[]) => {
    const w = window as any;
    w.__prepared = [];
    w.__prepareErrors = [];
    for (const t of ts) {
      const def = w.RED.nodes.getType(t);
      const orig = def.oneditprepare;
      def.oneditprepare = function (this: unknown, ...args: unknown[]) {
        w.__prepared.push(t);
        try {
          return orig ? orig.apply(this, args) : undefined;
        } catch (e) {
          w.__prepareErrors.push(`${t}: ${String((e as Error)?.stack || e)}`);
          throw e;
        }
      };
    }
  }, types.map((t) => t.type));
  return page;
}

before(async () => {
  browser = await launchBrowser({ skip: (r?: string) => (skipped = r ?? 'no chromium') });
  if (!browser) return;
  red = await startNodeRed({ withDashboard: true, settings: { telemetry: { enabled: false } } });
  pages.en = await openEditor('en-US');
  pages.zh = await openEditor('zh-CN');
});

after(async () => {
  if (browser) await browser.close();
  if (red) await red.stop();
});

interface DialogReport {
  opened: boolean;
  prepared: boolean;
  prepareErrors: string[];
  inputs: number;
  keys: string[];
  text: string;
}

/** Adds a node of `type` (as a palette drop would), opens its edit dialog, inspects it, cancels. */
async function editDialog(page: CollectedPage, type: string, isConfig: boolean): Promise<DialogReport> {
  const id = `t${Math.random().toString(16).slice(2, 10)}`;
  await page.evaluate(
    ({ type, id, isConfig }) => {
      const RED = (window as any).RED;
      const def = RED.nodes.getType(type);
      const n: Record<string, unknown> = { id, type };
      if (!isConfig) Object.assign(n, { z: RED.workspaces.active(), x: 200, y: 200, wires: Array.from({ length: Number(def.outputs) || 0 }, () => []) });
      RED.view.importNodes([n], { generateIds: false, applyNodeDefaults: true, notify: false });
      (window as any).__prepared = [];
      if (isConfig) RED.editor.editConfig('', type, id);
      else RED.editor.edit(RED.nodes.node(id));
    },
    { type, id, isConfig },
  );
  const opened = await page
    .waitForFunction((t: string) => (window as any).__prepared.includes(t) || (window as any).$('.red-ui-tray:visible .red-ui-tray-body').length > 0, type, { timeout: 10_000 })
    .then(
      () => true,
      () => false,
    );
  await page.waitForTimeout(300); // let oneditprepare's async work (typedInputs, lists) render
  const report = await page.evaluate((type: string) => {
    const w = window as any;
    const $ = w.$;
    const tray = $('.red-ui-tray').last();
    const form = tray.find('form');
    const visibleText = form.find(':visible').addBack().contents().filter(function (this: Node) {
      return this.nodeType === 3;
    }).text();
    const attrs = form
      .find('[placeholder],[title]')
      .map(function (this: Element) {
        return `${this.getAttribute('placeholder') ?? ''} ${this.getAttribute('title') ?? ''}`;
      })
      .get()
      .join(' ');
    const text = `${visibleText} ${attrs} ${tray.find('.red-ui-tray-titlebar').text()}`;
    const keyRe = new RegExp(`(?:^|[\\s>"'(])(?:[\\w@/.-]+:)?(?:${type.replace(/[-]/g, '\\-')}|node-red)\\.[a-zA-Z][\\w-]*\\.[\\w.-]+`, 'g');
    const keys = Array.from(new Set(text.match(keyRe) ?? [])).map((k) => k.trim());
    return {
      opened: tray.length > 0,
      prepared: w.__prepared.includes(type),
      prepareErrors: w.__prepareErrors.filter((e: string) => e.startsWith(`${type}:`)),
      inputs: form.find('input:not([type=hidden]), select, textarea, .red-ui-typedInput-container, .red-ui-editableList').filter(':visible').length,
      keys,
      text: text.replace(/\s+/g, ' ').trim(),
    };
  }, type);
  await page.evaluate(() => {
    const $ = (window as any).$;
    const cancel = $('#node-config-dialog-cancel:visible, #node-dialog-cancel:visible').first();
    if (cancel.length) cancel.trigger('click');
    else (window as any).RED.tray.close();
  });
  await page.waitForFunction(() => (window as any).$('.red-ui-tray:visible').length === 0, null, { timeout: 10_000 }).catch(() => undefined);
  return { ...report, opened: opened && report.opened };
}

test('the editor loads every node type of the package with no page or console errors', (t) => {
  if (skipped) return t.skip(skipped);
  assert.ok(types.length > 0);
  for (const [lang, page] of Object.entries(pages)) assert.deepEqual(page.errors(), [], `${lang} editor errors after load`);
});

for (const info of types) {
  const isConfig = info.category === 'config';
  for (const lang of ['en', 'zh'] as const) {
    test(`${info.type}: edit dialog (${lang === 'en' ? 'English' : 'Chinese'}) opens, oneditprepare runs, fields translated, cancels`, { timeout: 30_000 }, async (t) => {
      if (skipped) return t.skip(skipped);
      const page = pages[lang];
      const before = page.errors().length;
      const r = await editDialog(page, info.type, isConfig);
      assert.ok(r.opened, `the ${info.type} edit dialog did not open`);
      t.diagnostic(`${r.inputs} fields; "${r.text.slice(0, 160)}"`);
      const hasPrepare = await page.evaluate((ty: string) => !!(window as any).RED.nodes.getType(ty).oneditprepare, info.type);
      if (hasPrepare) assert.ok(r.prepared, 'oneditprepare did not run');
      assert.deepEqual(r.prepareErrors, [], 'oneditprepare threw');
      assert.ok(r.inputs > 0, `no input rendered in the dialog: "${r.text.slice(0, 300)}"`);
      assert.deepEqual(r.keys, [], `untranslated message keys visible in the dialog: "${r.text.slice(0, 400)}"`);
      if (lang === 'zh') assert.match(r.text, CJK, `the Chinese dialog shows no Chinese text: "${r.text.slice(0, 300)}"`);
      assert.deepEqual(page.errors().slice(before), [], 'page/console errors while editing');
    });
  }

  test(`${info.type}: help renders in English and in Chinese, and they differ`, async (t) => {
    if (skipped) return t.skip(skipped);
    const read = (page: CollectedPage): Promise<{ type: string | null; raw: string; rendered: string }> =>
      page.evaluate((ty: string) => {
        const w = window as any;
        const el = w.$(`script[data-help-name="${ty}"]`);
        const html = w.RED.nodes.getNodeHelp(ty) || '';
        return { type: el.attr('type') ?? null, raw: (el.html() ?? '').trim(), rendered: w.$('<div>').html(html).text().trim() };
      }, info.type);
    const en = await read(pages.en);
    const zh = await read(pages.zh);
    assert.ok(en.raw.length > 40, `no English help for ${info.type}`);
    assert.ok(en.rendered.length > 40, 'English help renders empty');
    assert.ok(zh.raw.length > 40, `no Chinese help for ${info.type}`);
    assert.notEqual(zh.raw, en.raw, `the zh-CN help of ${info.type} is the English one`);
    assert.match(zh.rendered, CJK, `the zh-CN help of ${info.type} has no Chinese text`);
    if (!isConfig) {
      for (const [lang, h] of [['en', en], ['zh', zh]] as const) assert.match(h.raw, /^#{2,3}\s/m, `${lang} help of ${info.type} has no section headings (### Inputs / ### Outputs / ### Details)`);
    }
  });
}

test('every example imports with no unknown node (flow and config nodes); quota guard screenshot', { timeout: 60_000 }, async (t) => {
  if (skipped) return t.skip(skipped);
  assert.ok(examples.length > 0, 'the package has no examples');
  const page = pages.en;
  const before = page.errors().length;
  const guard = examples.find((e) => /quota.?guard/i.test(e.file)) ?? null;
  const ordered = guard ? [guard, ...examples.filter((e) => e !== guard)] : examples;
  const problems: string[] = [];
  for (const ex of ordered) {
    const result = await page.evaluate((nodes: unknown[]) => {
      const RED = (window as any).RED;
      const seen = new Set<string>();
      RED.nodes.eachNode((n: any) => seen.add(n.id));
      RED.nodes.eachConfig((n: any) => seen.add(n.id));
      const tabsBefore = new Set<string>();
      RED.nodes.eachWorkspace((w: any) => tabsBefore.add(w.id));
      RED.view.importNodes(JSON.parse(JSON.stringify(nodes)), { generateIds: true, addFlow: false, notify: false });
      const unknown: string[] = [];
      const invalid: string[] = [];
      const check = (n: any): void => {
        if (seen.has(n.id)) return;
        if (n.type === 'unknown') unknown.push(`${n.name || n._orig?.type || '?'}`);
        else if (n.valid === false) invalid.push(`${n.type}${n.name ? ` "${n.name}"` : ''}`);
      };
      RED.nodes.eachNode(check);
      RED.nodes.eachConfig(check);
      const newTabs: string[] = [];
      RED.nodes.eachWorkspace((w: any) => {
        if (!tabsBefore.has(w.id)) newTabs.push(w.id);
      });
      return { unknown, invalid, tab: newTabs[0] ?? RED.workspaces.active() };
    }, ex.nodes);
    if (result.unknown.length) problems.push(`${ex.file}: unknown types ${result.unknown.join(', ')}`);
    if (result.invalid.length) t.diagnostic(`${ex.file}: nodes flagged invalid after import: ${result.invalid.join(', ')}`);
    if (ex === guard) {
      await page.evaluate((tab: string) => {
        const RED = (window as any).RED;
        RED.workspaces.show(tab);
        RED.view.redraw(true);
      }, result.tab);
      await page.waitForTimeout(500);
      const file = await screenshot(page, 'editor-quota-guard');
      t.diagnostic(`screenshot: ${file}`);
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(guard, 'no quota guard example (examples/*quota*guard*.json): no screenshot taken');
  assert.deepEqual(page.errors().slice(before), [], 'page/console errors while importing the examples');
});
