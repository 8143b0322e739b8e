import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AffinityMap, CandidatePlanner, type Candidate } from '../../engine/strategies';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t, advance: (ms: number) => { c.t += ms; } };
  return c;
}

const cs: Candidate[] = ['nv1/m', 'nv2/m', 'hy/m'].map((key) => ({ key, provider: key.split('/')[0], model: 'm' }));

test('AffinityMap: pins expire after the TTL since the last confirmation', () => {
  const c = clock();
  const a = new AffinityMap({ ttlMs: 1_000, now: c.now });
  a.set('s1', 'nv1/m');
  c.advance(900);
  assert.equal(a.get('s1'), 'nv1/m');
  a.set('s1', 'nv1/m'); // confirmed: TTL restarts
  c.advance(900);
  assert.equal(a.get('s1'), 'nv1/m');
  c.advance(100);
  assert.equal(a.get('s1'), undefined);
  assert.equal(a.size, 0);
});

test('AffinityMap: bounded size drops the least recently confirmed session', () => {
  const a = new AffinityMap({ maxSize: 3 });
  a.set('s1', 'x');
  a.set('s2', 'x');
  a.set('s3', 'x');
  a.set('s1', 'y'); // s1 is now the most recent
  a.set('s4', 'x');
  assert.equal(a.size, 3);
  assert.equal(a.get('s2'), undefined);
  assert.equal(a.get('s1'), 'y');
});

test('AffinityMap: forget only the given key, forgetKey drops every session on it', () => {
  const a = new AffinityMap();
  a.set('s1', 'a');
  a.set('s2', 'a');
  a.set('s3', 'b');
  assert.equal(a.forget('s1', 'b'), false);
  assert.equal(a.get('s1'), 'a');
  assert.equal(a.forgetKey('a'), 2);
  assert.equal(a.get('s3'), 'b');
  assert.throws(() => new AffinityMap({ ttlMs: 0 }), /ttlMs/);
  assert.throws(() => new AffinityMap({ maxSize: 0 }), /maxSize/);
});

test('planner: a session stays on its candidate while round robin rotates everyone else', () => {
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'weighted-round-robin', now: c.now, affinity: { ttlMs: 60_000 } });
  const first = planner.plan(cs, { session: 'chat-1' }).ordered[0].key;
  planner.onStart(first);
  planner.onResult(first, { ok: true, latencyMs: 100, session: 'chat-1' });
  const others = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const p = planner.plan(cs, { session: 'chat-1' });
    assert.equal(p.ordered[0].key, first);
    assert.match(p.explain[0].reason, /^session affinity/);
    planner.onResult(first, { ok: true, latencyMs: 100, session: 'chat-1' });
    others.add(planner.plan(cs).ordered[0].key); // session-less traffic keeps rotating
  }
  assert.equal(others.size, 3);
});

test('planner: the session moves on when its candidate fails, and sticks to the new one', () => {
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'fixed', now: c.now });
  planner.onResult('nv2/m', { ok: true, latencyMs: 50, session: 's' });
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'nv2/m');
  planner.onResult('nv2/m', { ok: false, latencyMs: 50, session: 's' });
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'nv1/m', 'pin dropped after an error');
  planner.onResult('hy/m', { ok: true, latencyMs: 50, session: 's' });
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'hy/m');
});

test('planner: the pin ends with the TTL, with an open breaker, and waits out saturation', () => {
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'fixed', now: c.now, affinity: { ttlMs: 10_000 } });
  planner.onResult('hy/m', { ok: true, latencyMs: 50, session: 's' });
  // saturated: not first right now, but the pin is kept
  const sat = cs.map((x) => (x.key === 'hy/m' ? { ...x, saturated: true } : x));
  assert.equal(planner.plan(sat, { session: 's' }).ordered[0].key, 'nv1/m');
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'hy/m');
  // breaker open (unhealthy): the pin is dropped
  const open = cs.map((x) => (x.key === 'hy/m' ? { ...x, healthy: false } : x));
  assert.equal(planner.plan(open, { session: 's' }).ordered[0].key, 'nv1/m');
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'nv1/m', 'pin gone after the breaker opened');
  // TTL
  planner.onResult('nv2/m', { ok: true, latencyMs: 50, session: 's' });
  c.advance(9_999);
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'nv2/m');
  c.advance(1);
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'nv1/m', 'TTL ended');
  // onUnavailable drops every pin on a key
  planner.onResult('hy/m', { ok: true, latencyMs: 50, session: 'a' });
  planner.onResult('hy/m', { ok: true, latencyMs: 50, session: 'b' });
  planner.onUnavailable('hy/m');
  assert.equal(planner.plan(cs, { session: 'a' }).ordered[0].key, 'nv1/m');
  assert.equal(planner.affinity!.size, 0);
});

test('planner: an error-demoted pinned candidate releases the session', () => {
  const c = clock();
  const planner = new CandidatePlanner({ strategy: 'fixed', now: c.now, rules: { maxErrorRate: 0.5, minSamples: 2 } });
  planner.onResult('hy/m', { ok: true, latencyMs: 50, session: 's' });
  planner.onResult('hy/m', { ok: false, latencyMs: 50 }); // other traffic fails on it
  planner.onResult('hy/m', { ok: false, latencyMs: 50 });
  const p = planner.plan(cs, { session: 's' });
  assert.equal(p.ordered[0].key, 'nv1/m');
  assert.equal(p.ordered[2].key, 'hy/m');
  assert.equal(planner.affinity!.get('s'), undefined);
});

test('affinity can be turned off', () => {
  const planner = new CandidatePlanner({ strategy: 'fixed', affinity: false });
  planner.onResult('hy/m', { ok: true, latencyMs: 50, session: 's' });
  assert.equal(planner.plan(cs, { session: 's' }).ordered[0].key, 'nv1/m');
  assert.equal(planner.affinity, null);
});
