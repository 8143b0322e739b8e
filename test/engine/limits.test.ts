import { test } from 'node:test';
import assert from 'node:assert/strict';
import Bottleneck from 'bottleneck';
import { FastBottleneck, AccountLimiter, createLimiter, requestLimiterOptions } from '../../engine/limits';
import { sleep } from '../support/ports';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const LocalDatastore = require('bottleneck/lib/LocalDatastore');

test('FastBottleneck leaves the shared bottleneck module untouched', async () => {
  const protoRun = (Bottleneck.prototype as any)._run;
  const protoYield = LocalDatastore.prototype.yieldLoop;
  const fast = new FastBottleneck({ maxConcurrent: 2 });
  assert.equal((Bottleneck.prototype as any)._run, protoRun);
  assert.equal(LocalDatastore.prototype.yieldLoop, protoYield);
  assert.ok(fast instanceof Bottleneck);
  assert.equal(fast.fastLocal, true);
  assert.notEqual((fast as any)._store.yieldLoop, protoYield);
  // A plain limiter created afterwards still has bottleneck's own behaviour.
  const stock = new Bottleneck({ maxConcurrent: 2 });
  assert.equal((stock as any)._store.yieldLoop, protoYield);
  assert.equal((stock as any)._run, protoRun);
  assert.equal(await stock.schedule(() => Promise.resolve(7)), 7);
  assert.equal(await fast.schedule(() => Promise.resolve(8)), 8);
});

test('FastBottleneck runs a job without clamped timers (stock bottleneck uses several per job)', async () => {
  // Counted, not timed: stock bottleneck's ~5 ms per job come from setTimeout(0) calls that
  // Node clamps to 1 ms; the fast paths must not make any.
  const countTimers = async (lim: Bottleneck): Promise<number> => {
    await lim.schedule(() => Promise.resolve(0)); // warm
    const orig = globalThis.setTimeout;
    let n = 0;
    (globalThis as any).setTimeout = (...args: Parameters<typeof setTimeout>) => {
      n++;
      return orig(...args);
    };
    try {
      for (let i = 0; i < 20; i++) await lim.schedule(() => Promise.resolve(i));
    } finally {
      globalThis.setTimeout = orig;
    }
    return n;
  };
  assert.equal(await countTimers(new FastBottleneck({ maxConcurrent: 10, reservoir: 1_000_000 })), 0);
  assert.ok((await countTimers(new Bottleneck({ maxConcurrent: 10, reservoir: 1_000_000 }))) >= 20 * 3);
});

test('FastBottleneck still enforces reservoir and maxConcurrent under a burst', async () => {
  const lim = new FastBottleneck({ maxConcurrent: 3, reservoir: 50 });
  let running = 0;
  let maxRunning = 0;
  let ran = 0;
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) {
    jobs.push(
      lim.schedule(async () => {
        running++;
        ran++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(1);
        running--;
      }),
    );
  }
  await sleep(300);
  assert.equal(ran, 50, 'exactly the reservoir ran');
  assert.equal(maxRunning, 3, 'never more than maxConcurrent at once');
  assert.equal(lim.queued(), 150);
  await lim.incrementReservoir(10);
  await sleep(100);
  assert.equal(ran, 60);
  await lim.stop({ dropWaitingJobs: true });
  const settled = await Promise.allSettled(jobs);
  assert.equal(settled.filter((s) => s.status === 'rejected').length, 140, 'waiting jobs are dropped with an error on stop');
  assert.equal(maxRunning, 3);
});

test('FastBottleneck keeps priorities and highWater/OVERFLOW semantics', async () => {
  const lim = new FastBottleneck({ maxConcurrent: 1 });
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = lim.schedule(() => gate);
  const low = lim.schedule({ priority: 9 }, async () => order.push('low'));
  const high = lim.schedule({ priority: 0 }, async () => order.push('high'));
  await sleep(5);
  release();
  await Promise.all([first, low, high]);
  assert.deepEqual(order, ['high', 'low']);

  const sor = createLimiter(requestLimiterOptions({ maxConcurrent: 2 }));
  let go!: () => void;
  const hold = new Promise<void>((r) => (go = r));
  const a = sor.schedule(() => hold);
  const b = sor.schedule(() => hold);
  const c = sor.schedule(() => hold);
  await assert.rejects(c, /dropped/i, 'a job beyond capacity is refused at once, not queued');
  go();
  await Promise.all([a, b]);
  assert.equal(sor.queued(), 0);
});

test('tryRun starts now or refuses, and reports freed capacity', async () => {
  const lim = new AccountLimiter({ limits: { maxConcurrent: 2 } });
  let freed = 0;
  lim.onCapacity(() => freed++);
  const gates: Array<() => void> = [];
  const results = await Promise.all(
    Array.from({ length: 10 }, () =>
      lim.tryRun(() => new Promise<string>((r) => gates.push(() => r('done')))),
    ),
  );
  const started = results.filter((r) => r.started);
  assert.equal(started.length, 2);
  assert.ok(results.filter((r) => !r.started).every((r) => !r.started && r.reason === 'capacity'));
  assert.equal(lim.counts().inFlight, 2);
  gates.forEach((g) => g());
  for (const r of started) if (r.started) assert.equal(await r.result, 'done');
  await sleep(5);
  assert.equal(freed, 2);
  assert.equal(lim.counts().inFlight, 0);
  const again = await lim.tryRun(async () => 1);
  assert.equal(again.started, true);
  await lim.stop();
  const after = await lim.tryRun(async () => 1);
  assert.deepEqual(after, { started: false, reason: 'stopped' });
});

test('the request window is sliding: never more than rpm starts in any window, and the full rate is used', async () => {
  const windowMs = 400;
  const lim = new AccountLimiter({ limits: { rpm: 5, windowMs, marginMs: 2 } });
  const starts: number[] = [];
  const end = Date.now() + 1500;
  while (Date.now() < end) {
    const r = await lim.tryRun(async () => {
      starts.push(Date.now());
    });
    if (r.started) await r.result;
    await sleep(3);
  }
  for (let i = 0; i < starts.length; i++) {
    const inWindow = starts.filter((t) => t >= starts[i] && t < starts[i] + windowMs).length;
    assert.ok(inWindow <= 5, `window starting at ${i} holds ${inWindow}`);
  }
  // 1500 ms = 3.75 windows: a sliding window lets 5 per window through, 15..20 in total.
  assert.ok(starts.length >= 15, `only ${starts.length} started`);
  assert.equal(lim.counts().rpm, 5);
  await lim.stop();
});

test('a request that never started gives its unit back', async () => {
  const lim = new AccountLimiter({ limits: { rpm: 2, windowMs: 10_000 } });
  const refused = await lim.tryRun(async () => 1, { admit: () => false });
  assert.deepEqual(refused, { started: false, reason: 'refused' });
  await sleep(2);
  const a = await lim.tryRun(async () => 1);
  const b = await lim.tryRun(async () => 1);
  const c = await lim.tryRun(async () => 1);
  assert.equal(a.started && b.started, true, 'both units are still available');
  assert.deepEqual(c, { started: false, reason: 'capacity' });
  await lim.stop();
});

test('pause() keeps every request away until it ends, then reports capacity', async () => {
  const lim = new AccountLimiter({ limits: { maxConcurrent: 5 } });
  let events = 0;
  lim.onCapacity(() => events++);
  lim.pause(80);
  const t0 = Date.now();
  const r1 = await lim.tryRun(async () => 1);
  assert.deepEqual(r1, { started: false, reason: 'paused' });
  assert.equal(lim.canStartHint(), false);
  while (Date.now() - t0 < 80) await sleep(5);
  await sleep(5);
  assert.ok(events >= 1);
  const r2 = await lim.tryRun(async () => 2);
  assert.equal(r2.started, true);
  await lim.stop();
});

test('a job admitted just before a pause is not sent', async () => {
  const lim = new AccountLimiter({ limits: { rpm: 10, windowMs: 10_000 } });
  const p = lim.tryRun(async () => 'sent');
  lim.pause(50); // synchronously after admission was requested
  const r = await p;
  assert.deepEqual(r, { started: false, reason: 'paused' });
  await lim.stop();
});

test('holdSlot and keepSlotUntil keep the concurrency slot after the result', async () => {
  const lim = new AccountLimiter({ limits: { maxConcurrent: 1 } });
  const r = await lim.tryRun(async (ctl) => {
    ctl.holdSlot(40);
    return 'x';
  });
  assert.ok(r.started);
  if (r.started) assert.equal(await r.result, 'x');
  const blocked = await lim.tryRun(async () => 1);
  assert.deepEqual(blocked, { started: false, reason: 'capacity' });
  await sleep(60);
  let finishStream!: () => void;
  const s = await lim.tryRun(async (ctl) => {
    ctl.keepSlotUntil(new Promise<void>((res) => (finishStream = res)));
    return 'first byte';
  });
  assert.ok(s.started);
  if (s.started) assert.equal(await s.result, 'first byte');
  assert.equal((await lim.tryRun(async () => 1)).started, false);
  finishStream();
  await sleep(5);
  assert.equal((await lim.tryRun(async () => 1)).started, true);
  await lim.stop();
});

test('tokens per window: estimates are charged, too-large requests are refused for good', async () => {
  const lim = new AccountLimiter({ limits: { tpm: 100, windowMs: 10_000 } });
  const a = await lim.tryRun(async () => 1, { tokens: 60 });
  assert.equal(a.started, true);
  const b = await lim.tryRun(async () => 1, { tokens: 60 });
  assert.deepEqual(b, { started: false, reason: 'tokens' });
  const c = await lim.tryRun(async () => 1, { tokens: 30 });
  assert.equal(c.started, true);
  const d = await lim.tryRun(async () => 1, { tokens: 500 });
  assert.deepEqual(d, { started: false, reason: 'too_large' });
  assert.equal(lim.counts().tokensInWindow, 90);
  await lim.stop();
});

test('a unit returns one window after the request ended (the upstream counts arrivals, which come later than our start)', async () => {
  const lim = new AccountLimiter({ limits: { rpm: 1, windowMs: 200, marginMs: 5 } });
  const t0 = Date.now();
  const r = await lim.tryRun(() => sleep(100).then(() => 'slow'));
  assert.ok(r.started);
  if (r.started) await r.result;
  const end = Date.now();
  while (Date.now() - t0 < 240) await sleep(5);
  assert.deepEqual(await lim.tryRun(async () => 1), { started: false, reason: 'capacity' }, 'still in the window: 200 ms after the start is not enough');
  while (Date.now() - end < 215) await sleep(5);
  await sleep(10);
  const again = await lim.tryRun(async () => 1);
  assert.equal(again.started, true);
  await lim.stop();
});
