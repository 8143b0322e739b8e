import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseCache, EXCLUDED_KEY_FIELDS } from '../../engine/cache/response-cache';

const base = {
  model: 'deepseek-v3',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: '你好' },
  ],
  temperature: 0,
  max_tokens: 100,
};

function clockAt(t0: number): { now: () => number; advance: (ms: number) => void } {
  let t = t0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('the same request is a hit, a different parameter or message is a miss', () => {
  const cache = new ResponseCache<string>({ ttlMs: 60_000, maxEntries: 10 });
  const k = cache.key(base);
  assert.match(k, /^[0-9a-f]{64}$/);
  assert.equal(cache.get(k), undefined);
  cache.set(k, 'answer');
  assert.equal(cache.get(cache.key(structuredClone(base))), 'answer');

  const variants: object[] = [
    { ...base, model: 'glm-4' },
    { ...base, temperature: 0.2 },
    { ...base, max_tokens: 101 },
    { ...base, top_p: 0.9 },
    { ...base, tools: [{ type: 'function', function: { name: 'f' } }] },
    { ...base, tool_choice: 'auto' },
    { ...base, response_format: { type: 'json_object' } },
    { ...base, messages: [base.messages[0], { role: 'user', content: '您好' }] },
    { ...base, messages: [base.messages[1], base.messages[0]] },
  ];
  for (const v of variants) assert.equal(cache.get(cache.key(v)), undefined, JSON.stringify(v));
  const s = cache.stats();
  assert.equal(s.hits, 1);
  assert.equal(s.misses, 1 + variants.length);
  assert.equal(s.entries, 1);
});

test('keys are stable across key order at every level and ignore stream, user and metadata fields', () => {
  const cache = new ResponseCache({ ttlMs: 1000, maxEntries: 10 });
  const reordered = {
    max_tokens: 100,
    temperature: 0,
    messages: [
      { content: 'be brief', role: 'system' },
      { content: '你好', role: 'user' },
    ],
    model: 'deepseek-v3',
  };
  assert.equal(cache.key(reordered), cache.key(base));
  const noise = { ...base, stream: true, stream_options: { include_usage: true }, user: 'u-42', metadata: { trace: 'x' }, store: false, extra: undefined };
  assert.equal(cache.key(noise), cache.key(base));
  assert.ok(EXCLUDED_KEY_FIELDS.includes('stream') && EXCLUDED_KEY_FIELDS.includes('user'));
  // a scope (e.g. the provider account) separates otherwise equal requests
  assert.notEqual(cache.key(base, 'nvidia-1'), cache.key(base, 'hunyuan'));
  assert.equal(cache.key(base, 'nvidia-1'), cache.key(reordered, 'nvidia-1'));
  // a circular request gets a clear error rather than a hang
  const cyc: Record<string, unknown> = { model: 'x' };
  cyc.self = cyc;
  assert.throws(() => cache.key(cyc), /circular/);
});

test('cacheable: only greedy requests unless forced; streams only when the caller can replay', () => {
  const cache = new ResponseCache({ ttlMs: 1000, maxEntries: 10 });
  assert.equal(cache.cacheable({ ...base, temperature: 0 }), true);
  assert.equal(cache.cacheable({ ...base, temperature: 0.7 }), false);
  const { temperature: _t, ...unset } = base;
  assert.equal(cache.cacheable(unset), false, 'unset temperature = the provider default, which samples');
  assert.equal(cache.cacheable({ ...unset, top_p: 0.5 }), false);
  assert.equal(cache.cacheable({ ...unset, top_k: 1 }), true);
  assert.equal(cache.cacheable({ ...base, temperature: 0.7 }, { force: true }), true);
  assert.equal(cache.cacheable({ ...base, stream: true }), false);
  assert.equal(cache.cacheable({ ...base, stream: true }, { force: true }), false);
  assert.equal(cache.cacheable({ ...base, stream: true }, { streamReplay: true }), true);
  assert.equal(cache.cacheable('hello'), false);
  assert.equal(cache.cacheable(null), false);
});

test('entries expire after ttlMs on the injected clock', () => {
  const clock = clockAt(1_000_000);
  const cache = new ResponseCache<string>({ ttlMs: 5000, maxEntries: 10, now: clock.now });
  cache.set('a', 'A');
  clock.advance(4999);
  assert.equal(cache.get('a'), 'A');
  clock.advance(1);
  assert.equal(cache.get('a'), undefined);
  cache.set('b', 'B');
  clock.advance(6000);
  const s = cache.stats();
  assert.equal(s.entries, 0);
  assert.equal(s.bytes, 0);
  assert.equal(s.expirations, 2);
  // re-setting refreshes the TTL
  cache.set('c', 'C');
  clock.advance(3000);
  cache.set('c', 'C2');
  clock.advance(3000);
  assert.equal(cache.get('c'), 'C2');
});

test('LRU: the least recently used entry is evicted first', () => {
  const cache = new ResponseCache<number>({ ttlMs: 60_000, maxEntries: 3 });
  cache.set('a', 1);
  cache.set('b', 2);
  cache.set('c', 3);
  assert.equal(cache.get('a'), 1); // a is now the most recent
  cache.set('d', 4); // evicts b
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.get('a'), 1);
  assert.equal(cache.get('c'), 3);
  assert.equal(cache.get('d'), 4);
  assert.equal(cache.stats().evictions, 1);
});

test('entry and byte bounds hold under many inserts', () => {
  const cache = new ResponseCache<{ text: string }>({ ttlMs: 60_000, maxEntries: 200, maxBytes: 50_000 });
  for (let i = 0; i < 5000; i++) {
    const value = { text: 'x'.repeat(i % 700) };
    cache.set(cache.key({ model: 'm', messages: [{ role: 'user', content: String(i) }] }), value);
    const s = cache.stats();
    assert.ok(s.entries <= 200, `entries ${s.entries}`);
    assert.ok(s.bytes <= 50_000, `bytes ${s.bytes}`);
  }
  const s = cache.stats();
  assert.ok(s.evictions >= 5000 - 200);
  // bytes are the sum of the stored entries' sizes: after clear nothing is left
  cache.clear();
  assert.deepEqual([cache.stats().entries, cache.stats().bytes], [0, 0]);
});

test('explicit sizes are honoured and an entry larger than maxBytes is not stored', () => {
  const cache = new ResponseCache<string>({ ttlMs: 60_000, maxEntries: 100, maxBytes: 1000 });
  cache.set('a', 'A', 400);
  cache.set('b', 'B', 400);
  assert.equal(cache.stats().bytes, 800);
  cache.set('c', 'C', 400); // 1200 > 1000: a goes
  assert.equal(cache.get('a'), undefined);
  assert.equal(cache.stats().bytes, 800);
  cache.set('b', 'huge', 5000); // too large: not stored, and the old b is dropped
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.get('c'), 'C');
  assert.equal(cache.stats().bytes, 400);
  assert.equal(cache.delete('c'), true);
  assert.equal(cache.delete('c'), false);
});

test('invalid options are rejected with a clear error', () => {
  assert.throws(() => new ResponseCache({ ttlMs: 0, maxEntries: 10 }), /ttlMs/);
  assert.throws(() => new ResponseCache({ ttlMs: 1000, maxEntries: 0 }), /maxEntries/);
  assert.throws(() => new ResponseCache({ ttlMs: 1000, maxEntries: 1.5 }), /maxEntries/);
  assert.throws(() => new ResponseCache({ ttlMs: 1000, maxEntries: 10, maxBytes: -1 }), /maxBytes/);
});
