import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import { startProviderSimulator, estimateTokens, type ProviderSimulator, type SimAccount } from '../../simulators/provider';
import { demoAccounts, faultsFromEnv, DEMO_KEYS } from '../../simulators/provider/demo-accounts';
import { sleep, waitFor } from '../support/ports';

interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** false when the connection ended before the full response arrived */
  complete: boolean;
  chunkTimes: number[];
}

interface CallOpts {
  method?: string;
  path?: string;
  key?: string | null;
  body?: unknown;
  rawBody?: string;
  timeoutMs?: number;
}

/** A plain node:http request; rejects with the socket error when there is no response at all. */
function call(sim: ProviderSimulator, o: CallOpts = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const payload = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
    if (o.key !== null) headers.authorization = `Bearer ${o.key ?? 'k1'}`;
    const req = http.request(
      {
        host: '127.0.0.1',
        port: sim.port,
        method: o.method ?? 'POST',
        path: o.path ?? '/v1/chat/completions',
        headers,
        agent: false,
      },
      (res) => {
        let body = '';
        const chunkTimes: number[] = [];
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
          chunkTimes.push(Date.now());
        });
        res.on('error', () => undefined);
        res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, complete: res.complete, chunkTimes }));
      },
    );
    req.on('error', reject);
    if (o.timeoutMs) {
      req.setTimeout(o.timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    }
    req.end(payload);
  });
}

function chat(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'm1', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }], ...extra };
}

async function withSim(accounts: SimAccount[], fn: (sim: ProviderSimulator) => Promise<void>, timeScale = 1, seed?: number): Promise<void> {
  const sim = await startProviderSimulator({ accounts, timeScale, seed });
  try {
    await fn(sim);
  } finally {
    await sim.close();
  }
}

function sseEvents(body: string): string[] {
  return body
    .split('\n\n')
    .filter((s) => s.length > 0)
    .map((s) => {
      assert.ok(s.startsWith('data: '), `SSE event must be a data line: ${s.slice(0, 40)}`);
      return s.slice(6);
    });
}

test('chat completion names the account and model, with CJK-aware usage', async () => {
  await withSim([{ key: 'k1', name: 'acct-a', models: ['m1', 'm2'] }], async (sim) => {
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const r = await call(sim, { body: chat('你好世界 hello there', { model: 'm2' }) });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    const j = JSON.parse(r.body);
    assert.equal(j.object, 'chat.completion');
    assert.equal(j.model, 'm2');
    assert.equal(j.choices[0].message.role, 'assistant');
    assert.equal(j.choices[0].message.content, '[acct-a/m2] 你好世界 hello there');
    assert.equal(j.choices[0].finish_reason, 'stop');
    // 4 CJK chars + ceil(12/4) for " hello there", plus 'be brief' (2) and 3 per message
    assert.equal(j.usage.prompt_tokens, 4 + 3 + 2 + 3 + 3);
    assert.equal(j.usage.completion_tokens, estimateTokens('[acct-a/m2] 你好世界 hello there'));
    assert.equal(j.usage.total_tokens, j.usage.prompt_tokens + j.usage.completion_tokens);
    const s = sim.stats('k1');
    assert.equal(s.requests, 1);
    assert.equal(s.completed, 1);
    assert.equal(s.promptTokens, j.usage.prompt_tokens);
    assert.equal(s.completionTokens, j.usage.completion_tokens);
    assert.deepEqual(s.byModel, { m2: 1 });
  });
});

test('estimateTokens counts CJK characters as one token and other text as four characters per token', () => {
  assert.equal(estimateTokens(''), 0);
  assert.equal(estimateTokens('abcd'), 1);
  assert.equal(estimateTokens('abcde'), 2);
  assert.equal(estimateTokens('中文文本'), 4);
  assert.equal(estimateTokens('こんにちは'), 5);
  assert.equal(estimateTokens('中文 text'), 2 + 2);
});

test('max_tokens truncates the reply and reports finish_reason length', async () => {
  await withSim([{ key: 'k1', name: 'acct-a' }], async (sim) => {
    const r = await call(sim, { body: chat('a fairly long question that would produce a long echo in the reply', { max_tokens: 3 }) });
    const j = JSON.parse(r.body);
    assert.equal(j.choices[0].finish_reason, 'length');
    assert.ok(j.usage.completion_tokens <= 3);
    assert.ok(j.choices[0].message.content.length > 0);
    const r2 = await call(sim, { body: chat('x', { max_completion_tokens: 2 }) });
    assert.ok(JSON.parse(r2.body).usage.completion_tokens <= 2);
    const bad = await call(sim, { body: chat('x', { max_tokens: -1 }) });
    assert.equal(bad.status, 400);
  });
});

test('auth: missing and unknown keys get 401 in the OpenAI error shape; /v1/models lists served models', async () => {
  await withSim([{ key: 'k1', name: 'acct-a', models: ['m1', 'm2'] }], async (sim) => {
    for (const key of [null, 'wrong-key']) {
      const r = await call(sim, { key, body: chat('hi') });
      assert.equal(r.status, 401);
      const j = JSON.parse(r.body);
      assert.equal(typeof j.error.message, 'string');
      assert.equal(j.error.type, 'invalid_request_error');
      assert.equal(j.error.code, 'invalid_api_key');
      assert.ok(!r.body.includes('wrong-key'), 'the error must not echo the key');
    }
    assert.equal(sim.totals().requests, 0, 'unauthenticated requests belong to no account');
    const m = await call(sim, { method: 'GET', path: '/v1/models' });
    assert.equal(m.status, 200);
    assert.deepEqual(
      JSON.parse(m.body).data.map((d: { id: string }) => d.id),
      ['m1', 'm2'],
    );
    const noAuth = await call(sim, { method: 'GET', path: '/v1/models', key: null });
    assert.equal(noAuth.status, 401);
  });
});

test('invalid requests: unknown model 404, context window 400, bad JSON 400', async () => {
  await withSim([{ key: 'k1', models: ['m1'], contextWindow: 50, rpm: 100 }], async (sim) => {
    const nf = await call(sim, { body: chat('hi', { model: 'gpt-nope' }) });
    assert.equal(nf.status, 404);
    assert.equal(JSON.parse(nf.body).error.code, 'model_not_found');
    const long = await call(sim, { body: chat('word '.repeat(200)) });
    assert.equal(long.status, 400);
    const e = JSON.parse(long.body).error;
    assert.equal(e.code, 'context_length_exceeded');
    assert.equal(e.type, 'invalid_request_error');
    const cjk = await call(sim, { body: chat('中'.repeat(60)) });
    assert.equal(JSON.parse(cjk.body).error.code, 'context_length_exceeded', '60 CJK characters are ~60 tokens');
    const fits = await call(sim, { body: chat('a'.repeat(150)) });
    assert.equal(fits.status, 200, '150 latin characters are ~38 tokens');
    const badJson = await call(sim, { rawBody: '{"model":' });
    assert.equal(badJson.status, 400);
    const noMsgs = await call(sim, { body: { model: 'm1' } });
    assert.equal(noMsgs.status, 400);
    const s = sim.stats('k1');
    assert.equal(s.errors, 5);
    assert.equal(s.completed, 1);
    assert.equal(s.maxRequestsInWindow, 1, 'rejected invalid requests do not use rate limit capacity');
  });
});

test('rpm limit with time scaling: 429 with Retry-After, counted, and the announced wait is enough', async () => {
  // a minute lasts 600 ms
  await withSim(
    [{ key: 'k1', rpm: 3 }],
    async (sim) => {
      assert.equal(sim.minuteMs, 600);
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) assert.equal((await call(sim, { body: chat(`q${i}`) })).status, 200);
      const r = await call(sim, { body: chat('q3') });
      assert.equal(r.status, 429);
      assert.equal(JSON.parse(r.body).error.code, 'rate_limit_exceeded');
      const ms = Number(r.headers['retry-after-ms']);
      assert.ok(ms > 0 && ms <= 600, `retry-after-ms within the scaled minute: ${ms}`);
      assert.ok(ms >= 600 - (Date.now() - t0) - 5, `retry-after-ms waits for the oldest request to leave the window: ${ms}`);
      assert.equal(r.headers['retry-after'], '1', 'Retry-After is whole seconds, rounded up');
      let s = sim.stats('k1');
      assert.equal(s.rpmViolations, 1);
      assert.equal(s.rejected429, 1);
      assert.equal(s.maxRequestsInWindow, 3);
      await sleep(ms + 5);
      const ok = await call(sim, { body: chat('q4') });
      assert.equal(ok.status, 200);
      s = sim.stats('k1');
      assert.equal(s.earlyRetries, 0, 'waiting the announced time is not an early retry');
      assert.equal(s.rpmViolations, 1);
      assert.equal(s.maxRequestsInWindow, 3);
    },
    0.01,
  );
});

test('rpm is a sliding window, not a fixed one', async () => {
  // a minute lasts 600 ms, 2 rpm
  await withSim(
    [{ key: 'k1', rpm: 2 }],
    async (sim) => {
      const t0 = Date.now();
      const at = async (ms: number, label: string): Promise<number> => {
        const wait = t0 + ms - Date.now();
        if (wait > 0) await sleep(wait);
        return (await call(sim, { body: chat(label) })).status;
      };
      assert.equal(await at(0, 'a'), 200);
      assert.equal(await at(300, 'b'), 200);
      assert.equal(await at(680, 'c'), 200, 'a left the window');
      assert.equal(await at(720, 'd'), 429, 'b and c are still inside the last 600 ms');
      assert.equal(sim.stats('k1').rpmViolations, 1);
    },
    0.01,
  );
});

test('injected 429s also start a Retry-After period', async () => {
  await withSim([{ key: 'k1', faults: { rate429: 1, retryAfterMs: 400 } }], async (sim) => {
    assert.equal((await call(sim, { body: chat('a') })).status, 429);
    sim.setFaults('k1', {});
    await sleep(20);
    assert.equal((await call(sim, { body: chat('too soon') })).status, 200, 'the simulator answers, but counts it');
    assert.equal(sim.stats('k1').earlyRetries, 1);
    await sleep(400);
    await call(sim, { body: chat('after') });
    assert.equal(sim.stats('k1').earlyRetries, 1);
  });
});

test('requests before an announced Retry-After has expired count as early retries', async () => {
  // a minute lasts 3 s; a 200 ms grace period for requests already on their way
  const sim = await startProviderSimulator({ accounts: [{ key: 'k1', rpm: 1 }], timeScale: 0.05, retryGraceMs: 200 });
  try {
    assert.equal((await call(sim, { body: chat('a') })).status, 200);
    const r = await call(sim, { body: chat('b') });
    assert.equal(r.status, 429);
    assert.equal(sim.stats('k1').earlyRetries, 0, 'the first 429 is not a retry');
    // right after the announcement a request may have been sent before the client saw the 429
    await call(sim, { body: chat('in flight') });
    assert.equal(sim.stats('k1').earlyRetries, 0, 'within the grace period');
    await sleep(250);
    await call(sim, { body: chat('c') });
    await call(sim, { body: chat('d') });
    const s = sim.stats('k1');
    assert.equal(s.earlyRetries, 2);
    assert.equal(s.rpmViolations, 4);
  } finally {
    await sim.close();
  }
});

test('a client pacing requests at the rpm rate produces no violations', async () => {
  // a minute lasts 500 ms, 5 rpm: one request every 100 ms is exactly the limit
  await withSim(
    [{ key: 'k1', rpm: 5 }],
    async (sim) => {
      const pending: Promise<HttpReply>[] = [];
      let last = 0;
      for (let i = 0; i < 12; i++) {
        // at least 105 ms after the previous send, even when a timer fires late
        const wait = last + 105 - Date.now();
        if (wait > 0) await sleep(wait);
        last = Date.now();
        pending.push(call(sim, { body: chat(`q${i}`) }));
      }
      const replies = await Promise.all(pending);
      assert.deepEqual(
        replies.map((r) => r.status),
        new Array(12).fill(200),
      );
      const s = sim.stats('k1');
      assert.equal(s.rpmViolations, 0);
      assert.equal(s.maxRequestsInWindow, 5);
    },
    500 / 60000,
  );
});

test('concurrency limit: the request beyond it gets 429 and is counted', async () => {
  await withSim([{ key: 'k1', concurrency: 2, latencyMs: 150 }], async (sim) => {
    const replies = await Promise.all([0, 1, 2].map((i) => call(sim, { body: chat(`q${i}`) })));
    const statuses = replies.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 429]);
    const limited = replies.find((r) => r.status === 429)!;
    assert.ok(Number(limited.headers['retry-after-ms']) > 0);
    assert.equal(limited.headers['retry-after'], '1');
    const s = sim.stats('k1');
    assert.equal(s.concurrencyViolations, 1);
    assert.equal(s.maxConcurrentSeen, 2);
    assert.equal(sim.inFlight('k1'), 0);
    // sequential requests never exceed it
    sim.resetStats();
    for (let i = 0; i < 3; i++) assert.equal((await call(sim, { body: chat('x') })).status, 200);
    assert.equal(sim.stats('k1').concurrencyViolations, 0);
    assert.equal(sim.stats('k1').maxConcurrentSeen, 1);
  });
});

test('tpm limit: tokens beyond the window get 429 and are counted', async () => {
  await withSim(
    [{ key: 'k1', name: 'a', tpm: 60 }],
    async (sim) => {
      const q = 'x'.repeat(80); // ~20 prompt tokens + 6 overhead + a ~25 token reply
      const first = await call(sim, { body: chat(q) });
      assert.equal(first.status, 200);
      const used = JSON.parse(first.body).usage.total_tokens;
      assert.ok(used > 30 && used <= 60, `one request fits, two do not: ${used}`);
      const second = await call(sim, { body: chat(q) });
      assert.equal(second.status, 429);
      assert.equal(JSON.parse(second.body).error.type, 'tokens');
      const ms = Number(second.headers['retry-after-ms']);
      assert.ok(ms > 0 && ms <= sim.minuteMs);
      assert.equal(sim.stats('k1').tpmViolations, 1);
      await sleep(ms + 5);
      assert.equal((await call(sim, { body: chat(q) })).status, 200);
      const tooBig = await call(sim, { body: chat('y'.repeat(400)) });
      assert.equal(tooBig.status, 429);
      assert.match(JSON.parse(tooBig.body).error.message, /too large/i);
      assert.equal(sim.stats('k1').tpmViolations, 2);
    },
    0.01,
  );
});

test('injected faults are observable from a plain HTTP client', async (t) => {
  const sim = await startProviderSimulator({ accounts: [{ key: 'k1', name: 'acct-a' }], timeScale: 0.01 });
  t.after(() => sim.close());

  await t.test('error5xx', async () => {
    sim.setFaults('k1', { error5xx: 1 });
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const r = await call(sim, { body: chat('x') });
      assert.ok([500, 502, 503].includes(r.status), `status ${r.status}`);
      assert.equal(JSON.parse(r.body).error.type, 'server_error');
      seen.add(r.status);
    }
    assert.ok(seen.size >= 2, 'several 5xx codes');
  });

  await t.test('rate429 announces the configured Retry-After', async () => {
    sim.setFaults('k1', { rate429: 1, retryAfterMs: 1500 });
    const r = await call(sim, { body: chat('x') });
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after-ms'], '1500');
    assert.equal(r.headers['retry-after'], '2');
    sim.setFaults('k1', { rate429: 1 });
    const d = await call(sim, { body: chat('x') });
    assert.equal(d.headers['retry-after-ms'], '10', 'default 1000 ms scaled by timeScale 0.01');
  });

  await t.test('hang never answers and frees its slot when the client gives up', async () => {
    sim.resetLimits();
    sim.setFaults('k1', { hang: 1 });
    await assert.rejects(call(sim, { body: chat('x'), timeoutMs: 150 }), (e: NodeJS.ErrnoException) => e.code === 'CLIENT_TIMEOUT');
    await waitFor(() => sim.inFlight('k1') === 0, 2000, 10, 'slot released');
    assert.equal(sim.stats('k1').injected.hang, 1);
    assert.ok(sim.stats('k1').aborted >= 1);
  });

  await t.test('reset destroys the socket without a response', async () => {
    sim.setFaults('k1', { reset: 1 });
    await assert.rejects(call(sim, { body: chat('x') }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || /socket hang up/.test(e.message));
  });

  await t.test('malformed answers 200 with a body that is not JSON', async () => {
    sim.setFaults('k1', { malformed: 1 });
    const r = await call(sim, { body: chat('x') });
    assert.equal(r.status, 200);
    assert.ok(r.complete);
    assert.throws(() => JSON.parse(r.body));
    const s = await call(sim, { body: chat('x', { stream: true }) });
    assert.equal(s.status, 200);
    const events = sseEvents(s.body).filter((e) => e !== '[DONE]');
    assert.ok(events.some((e) => { try { JSON.parse(e); return false; } catch { return true; } }), 'a stream event is not JSON');
  });

  await t.test('errorBody answers 200 with an error object', async () => {
    sim.setFaults('k1', { errorBody: 1 });
    const r = await call(sim, { body: chat('x') });
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.equal(j.choices, undefined);
    assert.equal(typeof j.error.message, 'string');
  });

  await t.test('cutStream stops after a few chunks without [DONE]', async () => {
    sim.setFaults('k1', { cutStream: 1 });
    const s = await call(sim, { body: chat('one two three four five six seven', { stream: true }) });
    assert.equal(s.status, 200);
    assert.equal(s.complete, false, 'the connection ends mid-response');
    assert.ok(!s.body.includes('[DONE]'));
    const events = s.body.split('\n\n').filter((e) => e.startsWith('data: {'));
    assert.ok(events.length >= 1 && events.length <= 3, `a few chunks: ${events.length}`);
    assert.ok(!s.body.includes('"finish_reason":"stop"'));
    // non-streaming requests are not affected by cutStream
    const r = await call(sim, { body: chat('x') });
    assert.equal(r.status, 200);
  });

  await t.test('badRequest answers 400 invalid_request_error', async () => {
    sim.setFaults('k1', { badRequest: 1 });
    const r = await call(sim, { body: chat('x') });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.type, 'invalid_request_error');
  });

  await t.test('down refuses every connection until it is up again', async () => {
    sim.setFaults('k1', {});
    sim.setDown('k1', true);
    await assert.rejects(call(sim, { body: chat('x') }));
    await assert.rejects(call(sim, { method: 'GET', path: '/v1/models' }));
    sim.setDown('k1', false);
    assert.equal((await call(sim, { body: chat('x') })).status, 200);
    sim.setFaults('k1', { down: true });
    await assert.rejects(call(sim, { body: chat('x') }));
    sim.setFaults('k1', {});
  });

  await t.test('counters', async () => {
    const s = sim.stats('k1');
    assert.equal(s.injected.error5xx, 20);
    assert.equal(s.injected.rate429, 2);
    assert.equal(s.injected.reset, 1);
    assert.equal(s.injected.malformed, 2);
    assert.equal(s.injected.errorBody, 1);
    assert.equal(s.injected.cutStream, 1);
    assert.equal(s.injected.badRequest, 1);
    assert.equal(s.injected.down, 2, 'refused completions (GET /v1/models is not counted)');
    assert.equal(s.rejected429, 2);
    assert.equal(s.completed, 2);
    assert.equal(s.errors, 20 + 1 + 1 + 2 + 1 + 1 + 1 + 2);
    assert.throws(() => sim.setFaults('k1', { error5xx: 2 }), /probability/);
    assert.throws(() => sim.stats('nope'), /unknown account/);
  });
});

test('fault injection is deterministic with a seed and follows the probabilities', async () => {
  const run = async (seed: number): Promise<number[]> => {
    const statuses: number[] = [];
    await withSim(
      [{ key: 'k1', faults: { error5xx: 0.2, rate429: 0.2, badRequest: 0.1 } }],
      async (sim) => {
        for (let i = 0; i < 150; i++) statuses.push((await call(sim, { body: chat('x') })).status);
      },
      1,
      seed,
    );
    return statuses;
  };
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const frac = (xs: number[], pred: (s: number) => boolean): number => xs.filter(pred).length / xs.length;
  const p5xx = frac(a, (s) => s >= 500);
  const p429 = frac(a, (s) => s === 429);
  const pOk = frac(a, (s) => s === 200);
  assert.ok(p5xx > 0.08 && p5xx < 0.35, `5xx ${p5xx}`);
  assert.ok(p429 > 0.08 && p429 < 0.3, `429 ${p429}`); // 0.8 * 0.2
  assert.ok(pOk > 0.45 && pOk < 0.8, `ok ${pOk}`); // 0.8 * 0.8 * 0.9
});

test('streaming: SSE chat.completion.chunk events, usage chunk on request, ending with [DONE]', async () => {
  await withSim([{ key: 'k1', name: 'acct-s' }], async (sim) => {
    const plain = JSON.parse((await call(sim, { body: chat('stream this answer please') })).body);
    const r = await call(sim, { body: chat('stream this answer please', { stream: true, stream_options: { include_usage: true } }) });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    assert.ok(r.complete);
    const events = sseEvents(r.body);
    assert.equal(events[events.length - 1], '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.model, 'm1');
      assert.equal(c.id, chunks[0].id);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const usageChunk = chunks[chunks.length - 1];
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(usageChunk.usage, plain.usage);
    const content = chunks
      .slice(0, -1)
      .map((c) => c.choices[0].delta.content ?? '')
      .join('');
    assert.equal(content, plain.choices[0].message.content);
    assert.ok(chunks.length >= 5, 'the answer arrives in several chunks');
    assert.equal(chunks[chunks.length - 2].choices[0].finish_reason, 'stop');

    const noUsage = sseEvents((await call(sim, { body: chat('x', { stream: true }) })).body);
    assert.ok(noUsage.slice(0, -1).every((e) => JSON.parse(e).usage === undefined));
    assert.equal(sim.stats('k1').completed, 3);
  });
});

test('chunkDelayMs spaces streamed chunks; setLatency delays answers', async () => {
  await withSim([{ key: 'k1', chunkDelayMs: 25 }], async (sim) => {
    const r = await call(sim, { body: chat('one two three four', { stream: true }) });
    assert.ok(r.chunkTimes.length >= 4, `chunks arrive separately: ${r.chunkTimes.length}`);
    assert.ok(r.chunkTimes[r.chunkTimes.length - 1] - r.chunkTimes[0] >= 25 * 3);
    sim.setLatency('k1', 120);
    const t0 = Date.now();
    await call(sim, { body: chat('x') });
    assert.ok(Date.now() - t0 >= 115);
  });
});

test('the official openai client parses completions, streams and errors', async () => {
  await withSim([{ key: 'k1', name: 'acct-o', rpm: 2 }], async (sim) => {
    const client = new OpenAI({ apiKey: 'k1', baseURL: sim.url, maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi there' }] });
    assert.equal(c.choices[0].message.content, '[acct-o/m1] hi there');
    const stream = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi again' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, '[acct-o/m1] hi again');
    await assert.rejects(client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }), (e: { status?: number }) => e.status === 429);
    const models = await client.models.list();
    assert.deepEqual(models.data, []);
  });
});

test('embeddings endpoint answers with vectors and counts against limits', async () => {
  await withSim([{ key: 'k1', models: ['emb'], rpm: 1 }], async (sim) => {
    const r = await call(sim, { path: '/v1/embeddings', body: { model: 'emb', input: ['a b c d', '中文'] } });
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.equal(j.data.length, 2);
    assert.equal(j.data[1].index, 1);
    assert.ok(j.data[0].embedding.length > 0);
    assert.equal(j.usage.prompt_tokens, 2 + 2); // 7 latin characters, 2 CJK characters
    assert.equal((await call(sim, { path: '/v1/embeddings', body: { model: 'emb', input: 'x' } })).status, 429);
  }, 0.01);
});

test('totals sum accounts; resetStats clears counters but keeps limits', async () => {
  await withSim(
    [
      { key: 'k1', name: 'a', rpm: 1 },
      { key: 'k2', name: 'b' },
    ],
    async (sim) => {
      await call(sim, { key: 'k1', body: chat('x') });
      await call(sim, { key: 'k1', body: chat('x') });
      const r = await call(sim, { key: 'k2', body: chat('x', { model: 'm9' }) });
      assert.match(JSON.parse(r.body).choices[0].message.content, /^\[b\/m9\]/);
      const t = sim.totals();
      assert.equal(t.requests, 3);
      assert.equal(t.completed, 2);
      assert.equal(t.rpmViolations, 1);
      assert.deepEqual(t.byModel, { m1: 2, m9: 1 });
      sim.resetStats();
      assert.equal(sim.totals().requests, 0);
      assert.equal((await call(sim, { key: 'k1', body: chat('x') })).status, 429, 'the window survives resetStats');
      sim.resetLimits('k1');
      assert.equal((await call(sim, { key: 'k1', body: chat('x') })).status, 200);
      sim.setLimits('k2', { concurrency: 0 });
      assert.equal((await call(sim, { key: 'k2', body: chat('x') })).status, 429);
    },
    1,
  );
});

test('close() ends hanging requests and keep-alive connections so the process can exit', async () => {
  const modulePath = path.resolve(__dirname, '../../simulators/provider/index.js');
  const script = `
    const http = require('node:http');
    const { startProviderSimulator } = require(${JSON.stringify(modulePath)});
    (async () => {
      const sim = await startProviderSimulator({ accounts: [{ key: 'k', faults: { hang: 1 } }, { key: 'k2', latencyMs: 60000 }] });
      const agent = new http.Agent({ keepAlive: true });
      const send = (key) => new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: sim.port, method: 'POST', path: '/v1/chat/completions', agent,
          headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('close', resolve); });
        req.on('error', resolve);
        req.end(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }));
      });
      const done = Promise.all([send('k'), send('k2')]);
      await new Promise((r) => setTimeout(r, 100));
      await sim.close();
      await done;
      console.log('closed');
    })();
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, 8000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0, `child did not exit by itself: ${out}`);
  assert.match(out, /closed/);
});

test('demo accounts follow the reference plan and faultsFromEnv reads failure rates', () => {
  const accounts = demoAccounts({});
  const byName = Object.fromEntries(accounts.map((a) => [a.name, a]));
  assert.deepEqual(Object.keys(byName).sort(), ['hunyuan', 'nvidia-1', 'nvidia-2', 'siliconflow']);
  for (const n of ['nvidia-1', 'nvidia-2']) {
    assert.equal(byName[n].rpm, 40);
    assert.equal(byName[n].concurrency, 5);
  }
  assert.equal(byName.hunyuan.rpm, null);
  assert.equal(byName.hunyuan.concurrency, 5);
  assert.ok((byName.hunyuan.contextWindow ?? 0) >= 256_000);
  assert.ok(accounts.every((a) => a === byName.hunyuan || (a.latencyMs ?? 0) > (byName.hunyuan.latencyMs ?? 0)), 'hunyuan is the fastest');
  assert.equal(byName.siliconflow.rpm, 5);
  assert.equal(byName['nvidia-1'].key, DEMO_KEYS['nvidia-1']);
  assert.deepEqual(byName['nvidia-1'].faults, {});

  const env = { SIM_FAIL_RATE: '0.1', SIM_429_RATE: '0.05', SIM_HUNYUAN_FAIL_RATE: '0.5', SIM_NVIDIA_2_DOWN: 'true', SIM_RETRY_AFTER_MS: '2000' };
  assert.deepEqual(faultsFromEnv(env), { error5xx: 0.1, rate429: 0.05, retryAfterMs: 2000 });
  assert.deepEqual(faultsFromEnv(env, 'hunyuan'), { error5xx: 0.5, rate429: 0.05, retryAfterMs: 2000 });
  const withEnv = Object.fromEntries(demoAccounts(env).map((a) => [a.name, a]));
  assert.equal(withEnv['nvidia-2'].faults?.down, true);
  assert.equal(withEnv['nvidia-1'].faults?.down, undefined);
  assert.throws(() => faultsFromEnv({ SIM_FAIL_RATE: '1.5' }), /SIM_FAIL_RATE.*probability/);
  assert.throws(() => faultsFromEnv({ SIM_429_RATE: 'lots' }), /SIM_429_RATE/);
  assert.throws(() => demoAccounts({ SIM_LATENCY_SCALE: '-1' }), /SIM_LATENCY_SCALE/);
  assert.equal(demoAccounts({ SIM_LATENCY_SCALE: '0' })[0].latencyMs, 0);
});

test('demo accounts run in the simulator', async () => {
  await withSim(demoAccounts({ SIM_LATENCY_SCALE: '0' }), async (sim) => {
    const r = await call(sim, { key: DEMO_KEYS.hunyuan, body: { model: 'hunyuan-turbos-latest', messages: [{ role: 'user', content: '你好' }] } });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).choices[0].message.content, '[hunyuan/hunyuan-turbos-latest] 你好');
  });
});
