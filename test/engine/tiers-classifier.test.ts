import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TierClassifier,
  TierInputError,
  DEFAULT_TIER_RULES,
  estimateTextTokens,
  parseRequest,
  MESSAGE_OVERHEAD_TOKENS,
  REQUEST_OVERHEAD_TOKENS,
  type TierRule,
} from '../../engine/tiers';

const OVERHEAD = MESSAGE_OVERHEAD_TOKENS + REQUEST_OVERHEAD_TOKENS;

test('token estimate: CJK characters count one each, other text about four characters per token', () => {
  const table: Array<[string, number]> = [
    ['', 0],
    ['abcd', 1],
    ['abcde', 2],
    ['hello world!', 3], // 12 chars
    ['你好世界', 4],
    ['こんにちは', 5], // hiragana
    ['カタカナ', 4], // katakana
    ['안녕하세요', 5], // hangul
    ['你好，世界。', 6], // full-width punctuation counts as CJK
    ['用Python写一个排序', 6 + 2], // 6 ideographs + "Python" (6 chars -> 2)
    ['𠀀𠀁', 2], // extension B ideographs (surrogate pairs) count once each
    ['東京タワーはどこですか? Tokyo tower', 11 + 4], // 11 CJK + "? Tokyo tower" (13 chars -> 4)
  ];
  for (const [text, expected] of table) assert.equal(estimateTextTokens(text), expected, text);
});

test('token estimate of a request: message overhead, content parts, tools', () => {
  assert.equal(parseRequest('你好').estimatedTokens, 2 + OVERHEAD);
  const body = {
    model: 'm',
    messages: [
      { role: 'system', content: 'abcdefgh' }, // 2
      { role: 'user', content: [{ type: 'text', text: '请看图' }, { type: 'image_url', image_url: { url: 'data:...' } }] }, // 3 + 85
    ],
  };
  const r = parseRequest(body);
  assert.equal(r.estimatedTokens, REQUEST_OVERHEAD_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS + 2 + 3 + 85);
  assert.equal(r.lastUserText, '请看图');
  const withTools = parseRequest({ ...body, tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }] });
  assert.ok(withTools.estimatedTokens > r.estimatedTokens);
  // the last USER message is what keyword rules read
  const multi = parseRequest({ messages: [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'reply' }, { role: 'user', content: 'second' }, { role: 'assistant', content: null }] });
  assert.equal(multi.lastUserText, 'second');
});

// Each row: prompt (string or request body), expected tier, expected rule name, a fragment of the reason.
const rows: Array<[string, unknown, number, string, string]> = [
  ['Chinese proof', '请证明根号2是无理数', 1, 'reasoning', 'keyword "证明" matched rule "reasoning"'],
  ['Chinese analysis', '请详细分析一下这家公司的财报', 1, 'reasoning', 'keyword "详细分析"'],
  ['Chinese translation', '翻译：今天天气很好', 3, 'simple', 'keyword "翻译"'],
  ['Chinese greeting', '你好', 3, 'simple', 'keyword "你好"'],
  ['Chinese code', '用Python写一个快速排序函数', 2, 'code', 'rule "code"'],
  ['Japanese reasoning', 'この定理を証明してください', 1, 'reasoning', 'keyword "証明"'],
  ['Japanese greeting', 'こんにちは', 3, 'simple', 'keyword "こんにちは"'],
  ['Japanese code', 'このコードのバグを直して', 2, 'code', 'rule "code"'],
  ['Korean reasoning', '이 정리를 증명해 주세요', 1, 'reasoning', 'keyword "증명"'],
  ['English proof', 'Prove that there are infinitely many primes.', 1, 'reasoning', 'keyword "Prove"'],
  ['English word boundary', 'How can I improve my sleep?', 3, 'short prompt', 'estimated prompt tokens < 200'],
  ['"hi" is not found inside "this"', 'Is this the right way to phrase a business email to my landlord about the broken heater and repairs, or should I be more formal about it, given he ignored my last two messages?', 3, 'short prompt', '< 200'],
  ['mixed language', '帮我 debug 这段 TypeScript', 2, 'code', 'rule "code"'],
  ['code fence', 'what does this do?\n```\nx = [i*i for i in range(10)]\n```', 2, 'code', 'matched "```"'],
  ['English greeting', 'hello there', 3, 'simple', 'keyword "hello"'],
  ['short plain question', 'Capital of France?', 3, 'short prompt', 'rule "short prompt"'],
  ['thinking parameter', { messages: [{ role: 'user', content: 'hello' }], reasoning_effort: 'high' }, 1, 'thinking', 'request parameter "reasoning_effort" present'],
  ['disabled thinking does not count', { messages: [{ role: 'user', content: 'hello' }], thinking: { type: 'disabled' } }, 3, 'simple', 'keyword "hello"'],
  ['tools parameter', { messages: [{ role: 'user', content: 'weather in Paris?' }], tools: [{ type: 'function', function: { name: 'w' } }] }, 2, 'tools', 'request parameter "tools" present'],
  ['empty tools list does not count', { messages: [{ role: 'user', content: 'weather in Paris?' }], tools: [] }, 3, 'short prompt', '< 200'],
  ['long Chinese document -> long prompt', '总结下面的文章。' + '这是一段很长的中文文本。'.repeat(900), 1, 'long prompt', '> 8000'],
  ['very long English -> long context', 'Summarise: ' + 'lorem ipsum dolor sit amet '.repeat(10_000), 2, 'long context', 'long-context threshold 60000'],
  ['medium plain text -> default', 'Tell me a story about a cat. ' + 'It was a sunny morning and the cat sat by the window. '.repeat(20), 2, 'default', 'no rule matched'],
];

for (const [label, input, tier, rule, reason] of rows) {
  test(`default rules: ${label} -> tier ${tier}`, () => {
    const c = new TierClassifier();
    assert.deepEqual(c.errors, []);
    const d = c.classify(input);
    assert.equal(d.tier, tier, `${d.reason}`);
    assert.equal(d.rule, rule, d.reason);
    assert.ok(d.reason.includes(reason), `reason "${d.reason}" should include "${reason}"`);
    assert.ok(d.estimatedTokens > 0);
  });
}

test('rules are tried in order: the first match wins', () => {
  const rules: TierRule[] = [
    { type: 'keyword', value: '翻译', tier: 3, name: 'translate' },
    { type: 'keyword', value: '证明', tier: 1, name: 'proof' },
  ];
  const c = new TierClassifier({ rules, defaultTier: 2 });
  assert.equal(c.classify('翻译并证明这个定理').rule, 'translate');
  const swapped = new TierClassifier({ rules: [rules[1], rules[0]], defaultTier: 2 });
  assert.equal(swapped.classify('翻译并证明这个定理').rule, 'proof');
  assert.equal(c.classify('写首诗').tier, 2);
});

test('explicit msg.tier comes first when valid, and is reported when ignored', () => {
  const c = new TierClassifier();
  const d = c.classify('请证明费马大定理', { explicitTier: 3 });
  assert.deepEqual([d.tier, d.rule, d.ruleIndex], [3, 'explicit', -1]);
  assert.equal(d.reason, 'explicit msg.tier = 3');
  assert.equal(c.classify('x', { explicitTier: '1' }).tier, 1);
  // an explicit tier needs no payload
  assert.equal(c.classify(undefined, { explicitTier: 2 }).tier, 2);
  for (const bad of [0, 4, 1.5, 'high', {}, -1]) {
    const b = c.classify('请证明费马大定理', { explicitTier: bad });
    assert.equal(b.tier, 1, String(bad));
    assert.match(b.reason, /^msg\.tier .* ignored \(not a tier within 1\.\.3\); keyword "证明"/);
  }
});

test('token threshold rules and long-context rule', () => {
  const rules: TierRule[] = [
    { type: 'long-context', value: '1000', tier: 4, name: '256k' },
    { type: 'tokens-above', value: '100', tier: 1, name: 'big' },
    { type: 'tokens-below', value: '10', tier: 3, name: 'tiny' },
  ];
  const c = new TierClassifier({ rules, tiers: 4, defaultTier: 2 });
  assert.equal(c.classify('短').tier, 3);
  assert.equal(c.classify('汉'.repeat(50)).tier, 2); // 50 + 7 overhead: between thresholds
  const big = c.classify('汉'.repeat(200));
  assert.deepEqual([big.tier, big.rule, big.estimatedTokens], [1, 'big', 200 + OVERHEAD]);
  assert.equal(big.reason, `~${200 + OVERHEAD} estimated prompt tokens > 100 (rule "big")`);
  const lc = c.classify('a'.repeat(8000));
  assert.equal(lc.tier, 4);
  assert.match(lc.reason, /> long-context threshold 1000 \(rule "256k"\)/);
});

test('regex rules: case-insensitive by default, /pattern/flags form, matched text in the reason', () => {
  const c = new TierClassifier({
    rules: [
      { type: 'regex', value: 'sql|数据库', tier: 2, name: 'db' },
      { type: 'regex', value: '/^URGENT/', tier: 1, name: 'urgent-case-sensitive' },
    ],
    defaultTier: 3,
  });
  assert.equal(c.classify('Write SQL for me').rule, 'db');
  assert.match(c.classify('优化数据库索引').reason, /matched "数据库" in rule "db"/);
  assert.equal(c.classify('URGENT: reply').rule, 'urgent-case-sensitive');
  assert.equal(c.classify('urgent: reply').tier, 3);
});

test('time-of-day window in an IANA timezone, wrapping midnight, with the injected clock', () => {
  let now = Date.UTC(2026, 0, 10, 18, 30); // 02:30 in Shanghai
  const c = new TierClassifier({
    rules: [{ type: 'time', value: '00:00-07:00', tz: 'Asia/Shanghai', tier: 3, name: 'night' }],
    defaultTier: 1,
    now: () => now,
  });
  const d = c.classify('请证明');
  assert.equal(d.tier, 3);
  assert.equal(d.reason, 'time 02:30 Asia/Shanghai within 00:00-07:00 (rule "night")');
  now = Date.UTC(2026, 0, 10, 23, 0); // 07:00 Shanghai: the end is exclusive
  assert.equal(c.classify('x').tier, 1);
  now = Date.UTC(2026, 0, 10, 15, 59); // 23:59
  assert.equal(c.classify('x').tier, 1);

  const wrap = new TierClassifier({ rules: [{ type: 'time', value: '22:00-06:00', tier: 3 }], timezone: 'Europe/Berlin', now: () => now });
  now = Date.UTC(2026, 6, 1, 21, 30); // 23:30 in Berlin (summer time)
  assert.equal(wrap.classify('x').tier, 3);
  now = Date.UTC(2026, 6, 1, 3, 59); // 05:59
  assert.equal(wrap.classify('x').tier, 3);
  now = Date.UTC(2026, 6, 1, 4, 0); // 06:00
  assert.equal(wrap.classify('x').tier, 2);
});

test('invalid rules are reported and left out; the valid ones keep working', () => {
  const c = new TierClassifier({
    rules: [
      { type: 'regex', value: '([unclosed', tier: 1, name: 'broken' },
      { type: 'time', value: '00:00-07:00', tz: 'Mars/Olympus', tier: 3, name: 'night' },
      { type: 'time', value: '25:00-07:00', tier: 3, name: 'bad window' },
      { type: 'keyword', value: '证明', tier: 5, name: 'out of range' },
      { type: 'tokens-above', value: 'many', tier: 1, name: 'nan' },
      { type: 'keyword', value: ' | ', tier: 1, name: 'empty' },
      { type: 'nonsense' as never, value: 'x', tier: 1 },
      { type: 'keyword', value: '证明|推理', tier: 1, name: 'reasoning' },
    ],
  });
  assert.equal(c.errors.length, 7);
  assert.deepEqual(
    c.errors.map((e) => e.index),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.match(c.errors[0].message, /rule 1 "broken" has an invalid regular expression/);
  assert.match(c.errors[1].message, /unknown timezone "Mars\/Olympus"/);
  assert.match(c.errors[3].message, /tier 5, which is not within 1\.\.3/);
  assert.deepEqual(c.rules.map((r) => r.name), ['reasoning']);
  const d = c.classify('证明它');
  assert.deepEqual([d.tier, d.rule, d.ruleIndex], [1, 'reasoning', 7]);
});

test('invalid tier counts, default tier and timezone fall back with an error', () => {
  const c = new TierClassifier({ tiers: 12, defaultTier: 7, timezone: 'Nowhere/City', rules: [] });
  assert.equal(c.tiers, 3);
  assert.equal(c.defaultTier, 2);
  assert.equal(c.timezone, 'UTC');
  assert.equal(c.errors.length, 3);
  assert.equal(c.classify('x').tier, 2);
});

test('default rules compile, fit three tiers and keep tier 2 as the default', () => {
  const c = new TierClassifier();
  assert.deepEqual(c.errors, []);
  assert.equal(c.rules.length, DEFAULT_TIER_RULES.length);
  assert.equal(c.defaultTier, 2);
  assert.deepEqual([...new Set(DEFAULT_TIER_RULES.map((r) => r.tier))].sort(), [1, 2, 3]);
});

test('bad input gives a clear TierInputError, never a crash', () => {
  const c = new TierClassifier();
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /msg\.payload is missing/],
    [null, /msg\.payload is missing/],
    [42, /msg\.payload is a number/],
    [{ model: 'x' }, /has no "messages"/],
    [{ messages: 'hi' }, /messages must be an array/],
    [{ messages: [null] }, /messages\[0\] must be an object/],
    [{ messages: [{ role: 'user', content: 42 }] }, /messages\[0\]\.content must be a string or an array/],
    [{ messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }, /content\[0\]\.text must be a string/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => c.classify(input),
      (err: unknown) => err instanceof TierInputError && re.test((err as Error).message),
      String(JSON.stringify(input)),
    );
  }
  // plain arrays of messages and completions prompts are accepted
  assert.equal(c.classify([{ role: 'user', content: '你好' }]).rule, 'simple');
  assert.equal(c.classify({ prompt: 'prove it' }).rule, 'reasoning');
});

test('huge payloads are classified quickly and keyword rules only read head and tail', () => {
  const c = new TierClassifier();
  const huge = '证明' + 'x'.repeat(5_000_000) + '翻译';
  const d = c.classify({ messages: [{ role: 'user', content: huge }] });
  assert.equal(d.rule, 'long context');
  const onlyMiddle = new TierClassifier({ rules: [{ type: 'keyword', value: 'needle', tier: 1 }], defaultTier: 3 });
  const hay = 'a '.repeat(50_000) + 'needle' + ' a'.repeat(50_000);
  assert.equal(onlyMiddle.classify(hay).tier, 3);
  assert.equal(onlyMiddle.classify('needle ' + hay).tier, 1);
  assert.equal(onlyMiddle.classify(hay + ' needle').tier, 1);
});
