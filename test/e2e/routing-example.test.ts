/**
 * "examples/02 Tiered routing.json" as shipped, against the provider simulator
 * (its llm-provider nodes pointed at the simulator, with the simulator's keys;
 * debug nodes watched through helper nodes with the same ids): each tier's
 * prompt is answered by its first choice, a failing first choice falls back in
 * the tier's order, and with every account down the emergency output answers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { helper, providerNode, callNode } from '../support/llm-flow';
import { coreNode, repoRoot } from '../support/paths';

const KEYS: Record<string, string> = { 'NVIDIA account 1': 'sk-ex-nvidia-1', 'NVIDIA account 2': 'sk-ex-nvidia-2', Hunyuan: 'sk-ex-hunyuan' };
let sim: ProviderSimulator;

before(async () => {
  helper.init(require.resolve('node-red'));
  sim = await startProviderSimulator({
    accounts: Object.entries(KEYS).map(([name, key]) => ({ key, name, rpm: name === 'Hunyuan' ? null : 40, concurrency: 5, latencyMs: 2 })),
  });
});
after(async () => {
  await helper.unload();
  await sim.close();
});

test('the tiered routing example answers each tier from its first choice, falls back in tier order, and ends in the emergency output', async () => {
  const flow = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', '02 Tiered routing.json'), 'utf8')) as Array<Record<string, any>>;
  const credentials: Record<string, Record<string, string>> = {};
  for (const n of flow) {
    if (n.type === 'llm-provider') {
      assert.equal(n.baseUrl, 'http://127.0.0.1:4010/v1');
      n.baseUrl = sim.url;
      credentials[n.id] = { apiKey: KEYS[n.name] };
    }
    if (n.type === 'debug') {
      n.type = 'helper';
      delete n.complete;
    }
  }
  await helper.load([providerNode, callNode, coreNode('common/20-inject.js'), coreNode('common/90-comment.js')], flow, credentials);
  const byName = (name: string) => flow.find((n) => n.name === name) as Record<string, any>;
  const injects = flow.filter((n) => n.type === 'inject');
  const calls = flow.filter((n) => n.type === 'llm-call-with-fallback');
  assert.equal(injects.length, 3);
  assert.equal(calls.length, 3);
  const answers: any[] = [];
  const errors: any[] = [];
  helper.getNode(byName('answer').id).on('input', (m: any) => answers.push(m));
  helper.getNode(byName('emergency (msg.error)').id).on('input', (m: any) => errors.push(m));
  const press = async (i: number, expect: 'answer' | 'error'): Promise<any> => {
    const before = expect === 'answer' ? answers.length : errors.length;
    helper.getNode(injects[i].id).receive({});
    const list = expect === 'answer' ? answers : errors;
    for (let t = 0; t < 200 && list.length === before; t++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(list.length, before + 1, `inject ${i} gave no ${expect}`);
    return list[before];
  };

  const t1 = await press(0, 'answer');
  assert.equal(t1.llm.provider, 'NVIDIA account 1');
  assert.equal(t1.llm.model, 'deepseek-ai/deepseek-r1');
  assert.match(t1.payload, /^\[NVIDIA account 1\/deepseek-ai\/deepseek-r1\] Prove step by step/);
  const t2 = await press(1, 'answer');
  assert.equal(t2.llm.provider, 'Hunyuan');
  assert.equal(t2.llm.model, 'hunyuan-turbos-latest');
  assert.match(t2.payload, /merges two sorted lists/);
  const t3 = await press(2, 'answer');
  assert.equal(`${t3.llm.provider}/${t3.llm.model}`, 'Hunyuan/hunyuan-lite');

  // NVIDIA account 1 fails: tier 1 falls back to NVIDIA account 2
  sim.setDown(KEYS['NVIDIA account 1'], true);
  const f1 = await press(0, 'answer');
  assert.equal(f1.llm.provider, 'NVIDIA account 2');
  assert.equal(f1.llm.attempts[0].provider, 'NVIDIA account 1');
  // and to Hunyuan when NVIDIA account 2 fails too
  sim.setDown(KEYS['NVIDIA account 2'], true);
  const f2 = await press(0, 'answer');
  assert.equal(`${f2.llm.provider}/${f2.llm.model}`, 'Hunyuan/hunyuan-t1-latest');
  // every account down: the emergency output, with the friendly text
  sim.setDown(KEYS.Hunyuan, true);
  const e = await press(0, 'error');
  assert.equal(e.error.emergency, true);
  assert.match(e.error.message, /temporarily unavailable/);
});
