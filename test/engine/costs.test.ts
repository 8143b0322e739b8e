import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blendedPerM, costOf, isFree, isKnownPrice, PriceTable, validatePrice } from '../../engine/costs';

const cases: Array<{ name: string; usage: { promptTokens?: number; completionTokens?: number }; price: { inPerM: number; outPerM: number }; usd: number }> = [
  { name: 'one million of each', usage: { promptTokens: 1_000_000, completionTokens: 1_000_000 }, price: { inPerM: 0.27, outPerM: 1.1 }, usd: 1.37 },
  { name: 'a typical chat turn', usage: { promptTokens: 1_200, completionTokens: 350 }, price: { inPerM: 2, outPerM: 8 }, usd: 0.0024 + 0.0028 },
  { name: 'a free model', usage: { promptTokens: 50_000, completionTokens: 9_000 }, price: { inPerM: 0, outPerM: 0 }, usd: 0 },
  { name: 'missing completion tokens count as 0', usage: { promptTokens: 500_000 }, price: { inPerM: 1, outPerM: 100 }, usd: 0.5 },
  { name: 'negative or NaN tokens count as 0', usage: { promptTokens: -5, completionTokens: Number.NaN }, price: { inPerM: 1, outPerM: 1 }, usd: 0 },
];

for (const c of cases) {
  test(`costOf: ${c.name}`, () => {
    assert.ok(Math.abs(costOf(c.usage, c.price) - c.usd) < 1e-12, `${costOf(c.usage, c.price)} != ${c.usd}`);
  });
}

test('free means a known price of 0 in and out; an unknown price is not free', () => {
  assert.equal(isFree({ inPerM: 0, outPerM: 0 }), true);
  assert.equal(isFree({ inPerM: 0, outPerM: 0.1 }), false);
  assert.equal(isFree({}), false);
  assert.equal(isFree(undefined), false);
  assert.equal(isKnownPrice({ inPerM: 1, outPerM: Number.NaN }), false);
  assert.equal(isKnownPrice({ inPerM: -1, outPerM: 1 }), false);
});

test('blendedPerM weighs input and output by the expected mix (3:1 by default)', () => {
  assert.equal(blendedPerM({ inPerM: 1, outPerM: 5 }), 2);
  assert.equal(blendedPerM({ inPerM: 1, outPerM: 5 }, { promptTokens: 100, completionTokens: 100 }), 3);
  assert.equal(blendedPerM({ inPerM: 1, outPerM: 5 }, { promptTokens: 0, completionTokens: 0 }), 2);
});

test('PriceTable: per provider and model, model names case-insensitive, "*" provider as default', () => {
  const t = new PriceTable()
    .set('*', 'DeepSeek-V3-2-251201', { inPerM: 0.28, outPerM: 0.42 })
    .set('nvidia-1', 'deepseek-v3-2-251201', { inPerM: 0, outPerM: 0 });
  assert.deepEqual(t.get('nvidia-1', 'DEEPSEEK-V3-2-251201'), { inPerM: 0, outPerM: 0 });
  assert.deepEqual(t.get('hunyuan', 'deepseek-v3-2-251201'), { inPerM: 0.28, outPerM: 0.42 });
  assert.equal(t.get('hunyuan', 'glm-4-7'), undefined);
  assert.equal(t.cost('hunyuan', 'glm-4-7', { promptTokens: 10 }), null);
  assert.ok(Math.abs(t.cost('hunyuan', 'deepseek-v3-2-251201', { promptTokens: 1_000_000, completionTokens: 1_000_000 })! - 0.7) < 1e-12);
  assert.equal(t.entries().length, 2);
  assert.equal(t.delete('nvidia-1', 'DeepSeek-V3-2-251201'), true);
  assert.deepEqual(t.get('nvidia-1', 'deepseek-v3-2-251201'), { inPerM: 0.28, outPerM: 0.42 });
});

test('prices are validated with a clear error', () => {
  assert.throws(() => new PriceTable().set('a', 'm', { inPerM: -1, outPerM: 0 }), /price of a\/m: inPerM and outPerM must be numbers >= 0/);
  assert.throws(() => validatePrice({ inPerM: '1', outPerM: 2 }), /USD per million/);
});
