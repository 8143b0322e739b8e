import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyException, classifyHttp, LlmError, parseRetryAfter } from '../../engine/errors';

test('Retry-After is read from retry-after-ms, seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter({ 'retry-after-ms': '1500', 'retry-after': '9' }), 1500);
  assert.equal(parseRetryAfter({ 'x-ms-retry-after-ms': '250' }), 250);
  assert.equal(parseRetryAfter({ 'retry-after': '2' }), 2000);
  assert.equal(parseRetryAfter({ 'retry-after': '0.5' }), 500);
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  assert.equal(parseRetryAfter({ 'retry-after': new Date(now + 30_000).toUTCString() }, now), 30_000);
  assert.equal(parseRetryAfter({ 'retry-after': 'soon' }), undefined);
  assert.equal(parseRetryAfter({}), undefined);
  assert.equal(parseRetryAfter({ get: (n: string) => (n === 'retry-after-ms' ? 42 : undefined) }), 42);
});

test('HTTP answers are classified into what the router does next', () => {
  const r429 = classifyHttp(429, { 'retry-after': '3' }, { error: { message: 'slow down', code: 'rate_limit_exceeded' } });
  assert.equal(r429.code, 'rate_limited');
  assert.equal(r429.retryable, true);
  assert.equal(r429.breakerFailure, false, 'a 429 does not count against the breaker');
  assert.equal(r429.retryAfterMs, 3000);

  for (const s of [500, 502, 503]) {
    const e = classifyHttp(s, {}, '');
    assert.equal(e.code, 'server_error');
    assert.ok(e.retryable && e.breakerFailure);
  }
  const ctx = classifyHttp(400, {}, { error: { message: "This model's maximum context length is 8192 tokens", code: 'context_length_exceeded' } });
  assert.equal(ctx.code, 'context_length');
  assert.equal(ctx.fatal, false);
  const ctxByText = classifyHttp(400, {}, { error: { message: 'Please reduce the length of the messages.' } });
  assert.equal(ctxByText.code, 'context_length');

  const bad = classifyHttp(400, {}, { error: { message: "'messages' must be a non-empty array.", type: 'invalid_request_error' } });
  assert.equal(bad.code, 'invalid_request');
  assert.equal(bad.fatal, true);
  assert.equal(bad.retryable, false);
  assert.equal(bad.breakerFailure, false);

  assert.equal(classifyHttp(401, {}, '').code, 'auth');
  assert.equal(classifyHttp(401, {}, '').breakerFailure, true);
  assert.equal(classifyHttp(404, {}, { error: { message: 'model not found' } }).code, 'not_found');
  assert.equal(classifyHttp(408, {}, '').code, 'timeout');
  assert.equal(classifyHttp(418, {}, '').code, 'client_error');
  assert.equal(classifyHttp(418, {}, '').retryable, false);
});

test('classified messages never quote the API key', () => {
  const key = 'nvapi-SECRET-key-123456';
  const e = classifyHttp(401, {}, { error: { message: `Incorrect API key provided: ${key}` } }, [key]);
  assert.ok(!e.message.includes(key), e.message);
  assert.ok(!JSON.stringify(e).includes(key));
  const x = classifyException(Object.assign(new Error(`connect failed for Bearer ${key}`), { code: 'EWHATEVER' }), { secrets: [key] });
  assert.ok(!x.message.includes(key), x.message);
  assert.ok(!String(x.stack).includes(key));
});

test('exceptions: resets, refusals, timeouts and aborts', () => {
  assert.equal(classifyException(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).code, 'connection_reset');
  assert.equal(classifyException(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).code, 'unreachable');
  assert.equal(classifyException(new Error('x'), { timedOut: true, timeoutMs: 50 }).code, 'timeout');
  assert.equal(classifyException(new Error('canceled'), { aborted: true }).code, 'aborted');
  assert.equal(classifyException(Object.assign(new Error('canceled'), { code: 'ERR_CANCELED' })).code, 'aborted');
  const passthrough = new LlmError({ code: 'malformed_response', message: 'bad body' });
  assert.equal(classifyException(passthrough), passthrough);
  assert.equal(passthrough.retryable, true);
  assert.equal(passthrough.breakerFailure, true);
});
