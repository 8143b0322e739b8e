/**
 * The OpenAI-compatible endpoint example (examples/03) in a real Node-RED on the
 * provider simulator, used by the official `openai` npm client as its gateway:
 * plain and streamed completions, a streamed completion whose first candidate
 * fails before its first byte (answered by the next), a stream cut after it
 * started (the client gets an error event), and errors in OpenAI's shape with a
 * proper HTTP status (400 invalid request, 503 every account down).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startProviderSimulator, type ProviderSimulator } from '../../simulators/provider';
import { startNodeRed, type NodeRedInstance } from '../support/nodered-instance';
import { endpointAccounts, endpointFlow, ENDPOINT_KEYS } from '../support/endpoint-flow';
import { waitFor } from '../support/ports';

let sim: ProviderSimulator;
let red: NodeRedInstance;
let client: OpenAI;

before(async () => {
  // Hunyuan streams a chunk every 15 ms, so buffering anywhere would show
  sim = await startProviderSimulator({ accounts: endpointAccounts({ hunyuan: { chunkDelayMs: 15 } }), seed: 3 });
  const { flows, credentials } = endpointFlow(sim.url);
  red = await startNodeRed({ flows, credentials, withDashboard: false });
  client = new OpenAI({ baseURL: `${red.url}/v1`, apiKey: 'sk-client-side-not-checked', maxRetries: 0, timeout: 20_000 });
});

after(async () => {
  await red?.stop();
  await sim?.close();
});

type ApiError = InstanceType<typeof OpenAI.APIError>;

const ask = (content: string) => [{ role: 'user' as const, content }];

test('a plain completion: the OpenAI client gets a chat.completion from the tier\'s first candidate', async () => {
  const { data, response } = await client.chat.completions.create({ model: 'auto', messages: ask('hello there') }).withResponse();
  assert.equal(response.status, 200);
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, '[hunyuan/hunyuan-turbos-latest] hello there');
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.ok((data.usage?.total_tokens ?? 0) > 0);
  assert.equal(response.headers.get('x-llm-provider'), 'Hunyuan');
  // a tier-1 request (reasoning parameters) goes to NVIDIA account 1 first
  const deep = await client.chat.completions.create({ model: 'auto', messages: ask('why is the sky blue'), reasoning_effort: 'high' });
  assert.equal(deep.choices[0].message.content, '[nvidia-1/deepseek-ai/deepseek-r1] why is the sky blue');
});

test('a streamed completion arrives as chat.completion.chunk events, with usage when asked for', async () => {
  const stream = await client.chat.completions.create({
    model: 'auto',
    messages: ask('hello, please stream this answer in several small pieces'),
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finish: string | null = null;
  const arrivals: number[] = [];
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    arrivals.push(performance.now());
    chunks++;
    const c = chunk.choices[0];
    if (c?.delta?.content) text += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, '[hunyuan/hunyuan-turbos-latest] hello, please stream this answer in several small pieces');
  assert.ok(chunks >= 5, `${chunks} chunks`);
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.total_tokens > 0, 'the final usage chunk reaches a client that asked for it');
  // chunks reach the client as the upstream sends them (15 ms apart), not all at the end
  const spread = (arrivals.at(-1) as number) - arrivals[0];
  assert.ok(spread >= 15 * (chunks - 3), `chunks arrived over ${spread.toFixed(0)} ms, not in one burst`);

  // without include_usage the client gets no chunk without choices
  const plain = await client.chat.completions.create({ model: 'auto', messages: ask('hello again'), stream: true });
  for await (const chunk of plain) assert.ok(chunk.choices.length > 0, 'no usage-only chunk for a client that did not ask');
});

test('a stream whose first candidate fails before the first byte is answered by the next candidate', async () => {
  const before = sim.stats(ENDPOINT_KEYS.hunyuan).requests;
  sim.setFaults(ENDPOINT_KEYS.hunyuan, { error5xx: 1 });
  try {
    const stream = await client.chat.completions.create({ model: 'auto', messages: ask('hello from a failing first choice'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, '[nvidia-1/moonshotai/kimi-k2-instruct] hello from a failing first choice');
    assert.ok(sim.stats(ENDPOINT_KEYS.hunyuan).requests > before, 'the first candidate was tried');
  } finally {
    sim.setFaults(ENDPOINT_KEYS.hunyuan, {});
  }
  // the same with the account down (connections refused/destroyed)
  sim.setDown(ENDPOINT_KEYS.hunyuan, true);
  try {
    const stream = await client.chat.completions.create({ model: 'auto', messages: ask('hello while Hunyuan is down'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, '[nvidia-1/moonshotai/kimi-k2-instruct] hello while Hunyuan is down');
  } finally {
    sim.setDown(ENDPOINT_KEYS.hunyuan, false);
  }
});

test('a stream cut after it started ends with an error event: the client sees the partial text, then an APIError', async () => {
  sim.setFaults(ENDPOINT_KEYS.hunyuan, { cutStream: 1 });
  try {
    const stream = await client.chat.completions.create({ model: 'auto', messages: ask('hello, this answer will be cut off in the middle of the stream'), stream: true });
    let text = '';
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && /stream_interrupted|broke off/.test(`${(e as ApiError).code} ${(e as Error).message}`),
    );
    assert.ok(text.length > 0 && text.length < 40, `partial text before the cut: "${text}"`);
    assert.ok('[hunyuan/hunyuan-turbos-latest] hello, this answer will be cut'.startsWith(text), text);
  } finally {
    sim.setFaults(ENDPOINT_KEYS.hunyuan, {});
  }
  // the next request works as usual
  const ok = await client.chat.completions.create({ model: 'auto', messages: ask('hello after the cut') });
  assert.equal(ok.choices[0].message.content, '[hunyuan/hunyuan-turbos-latest] hello after the cut');
});

test('a client that goes away mid-stream stops the upstream stream; the endpoint keeps working', async () => {
  const abortedBefore = sim.stats(ENDPOINT_KEYS.hunyuan).aborted;
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model: 'auto', messages: ask('hello, a long answer that the client will stop reading after the first piece'), stream: true },
    { signal: ac.signal },
  );
  let pieces = 0;
  try {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) {
        pieces++;
        ac.abort();
      }
    }
  } catch {
    /* the client reports its own abort, or ends quietly */
  }
  assert.ok(pieces >= 1 && pieces <= 3, `${pieces} pieces read before the abort`);
  await waitFor(() => sim.inFlight(ENDPOINT_KEYS.hunyuan) === 0, 3000, 10, 'the upstream stream to stop');
  assert.equal(sim.stats(ENDPOINT_KEYS.hunyuan).aborted, abortedBefore + 1, 'the upstream saw its stream end before the answer was complete');
  const ok = await client.chat.completions.create({ model: 'auto', messages: ask('hello after the abort') });
  assert.equal(ok.choices[0].message.content, '[hunyuan/hunyuan-turbos-latest] hello after the abort');
});

test('an invalid request is a 400 BadRequestError in OpenAI\'s error shape; nothing reaches the upstream', async () => {
  const before = sim.totals().requests;
  await assert.rejects(
    client.chat.completions.create({ model: 'auto', messages: [] }),
    (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      const err = e as ApiError;
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.code, 'invalid_input');
      assert.match(err.message, /messages is empty/);
      return true;
    },
  );
  // raw body: {error: {message, type, code, param}}
  const raw = await red.request('POST', '/v1/chat/completions', { model: 'auto', messages: [{ role: 'wizard', content: 'x' }] });
  assert.equal(raw.status, 400);
  const body = raw.json();
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(sim.totals().requests, before);
});

test('every account down: 503 in OpenAI\'s error shape, streamed or not, with the friendly message', async () => {
  for (const k of Object.values(ENDPOINT_KEYS)) sim.setDown(k, true);
  try {
    for (const stream of [false, true]) {
      await assert.rejects(
        client.chat.completions.create({ model: 'auto', messages: ask(`hello, anyone there? ${stream}`), stream } as OpenAI.ChatCompletionCreateParamsNonStreaming),
        (e: unknown) => {
          assert.ok(e instanceof OpenAI.InternalServerError, String(e));
          const err = e as ApiError;
          assert.equal(err.status, 503);
          assert.equal(err.type, 'server_error');
          assert.ok(['all_candidates_failed', 'all_breakers_open'].includes(String(err.code)), String(err.code));
          assert.match(err.message, /temporarily unavailable/);
          assert.equal(err.headers?.get('retry-after'), '5');
          return true;
        },
      );
    }
  } finally {
    for (const k of Object.values(ENDPOINT_KEYS)) sim.setDown(k, false);
  }
  assert.ok(!red.logs().includes(ENDPOINT_KEYS.hunyuan), 'no API key in the Node-RED log');
});
