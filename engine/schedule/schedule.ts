/**
 * A cron schedule in an IANA timezone (croner does the calendar maths, DST included),
 * driven by our own timer so the clock can be injected, plus the "catch up once after
 * downtime" decision.
 *
 * DST behaviour (croner's, checked in the tests):
 * - a time inside the spring-forward gap (02:20 when clocks jump 02:00 -> 03:00) runs
 *   once that day, at the first valid minute after the gap (03:00);
 * - a time inside the repeated fall-back hour runs once, at its first occurrence.
 *
 * Catch-up: the time of the last run (or, before any run, of the first start) is kept
 * in a state store that survives restarts. At start, if a scheduled time fell between
 * that reference and now, the schedule fires once (however many runs were missed).
 * When the cron expression or timezone changed since the state was written, there is
 * no catch-up: the reference restarts at now.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Cron } from 'croner';
import { isValidTimeZone, zonedParts } from '../time/zoned';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Checks a cron expression and timezone; throws a clear error. Returns a paused croner instance. */
export function compileSchedule(cron: string, timezone: string): Cron {
  if (typeof cron !== 'string' || cron.trim() === '') throw new Error('cron expression is empty');
  if (!isValidTimeZone(timezone)) throw new Error(`unknown timezone "${String(timezone)}" (use an IANA name such as Asia/Shanghai or UTC)`);
  let job: Cron;
  try {
    job = new Cron(cron.trim(), { timezone, paused: true });
  } catch (err) {
    throw new Error(`invalid cron expression "${cron}": ${(err as Error).message.replace(/^CronPattern:\s*/, '')}`, { cause: err });
  }
  if (!job.nextRun(new Date())) throw new Error(`cron expression "${cron}" never runs`);
  return job;
}

/** The first scheduled time strictly after `after` (epoch ms), or null. */
export function nextRunAfter(cron: string | Cron, timezone: string, after: number): number | null {
  const job = typeof cron === 'string' ? compileSchedule(cron, timezone) : cron;
  const d = job.nextRun(new Date(after));
  return d ? d.getTime() : null;
}

/** The next `n` scheduled times after `after`. */
export function nextRuns(cron: string | Cron, timezone: string, after: number, n: number): number[] {
  const job = typeof cron === 'string' ? compileSchedule(cron, timezone) : cron;
  return job.nextRuns(n, new Date(after)).map((d) => d.getTime());
}

export interface ScheduleState {
  /** epoch ms of the last run (scheduled, catch-up or manual) */
  lastRun?: number;
  /** epoch ms from which runs are accounted for (first start, or last change of schedule) */
  since?: number;
  cron?: string;
  timezone?: string;
}

export interface ScheduleStateStore {
  load(): ScheduleState | undefined;
  save(state: ScheduleState): void;
}

export class MemoryStateStore implements ScheduleStateStore {
  constructor(private state?: ScheduleState) {}
  load(): ScheduleState | undefined {
    return this.state ? { ...this.state } : undefined;
  }
  save(state: ScheduleState): void {
    this.state = { ...state };
  }
}

/** One JSON file per schedule (written atomically), e.g. under Node-RED's user directory. */
export class FileStateStore implements ScheduleStateStore {
  readonly file: string;
  constructor(dir: string, key: string) {
    this.file = path.join(dir, `schedule-${key.replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
  }
  load(): ScheduleState | undefined {
    try {
      const v = JSON.parse(fs.readFileSync(this.file, 'utf8')) as ScheduleState;
      return v && typeof v === 'object' ? v : undefined;
    } catch {
      return undefined;
    }
  }
  save(state: ScheduleState): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state));
    fs.renameSync(tmp, this.file);
  }
  remove(): void {
    fs.rmSync(this.file, { force: true });
  }
}

/**
 * The scheduled time to catch up on at start (the first one missed since the reference),
 * or null when nothing was missed, there is no reference yet, or the schedule changed.
 */
export function missedRun(job: Cron, state: ScheduleState | undefined, cron: string, timezone: string, now: number): number | null {
  if (!state) return null;
  if (state.cron !== undefined && (state.cron !== cron || state.timezone !== timezone)) return null;
  const ref = Math.max(state.lastRun ?? -Infinity, state.since ?? -Infinity);
  if (!Number.isFinite(ref) || ref >= now) return null;
  const d = job.nextRun(new Date(ref));
  return d && d.getTime() <= now ? d.getTime() : null;
}

export interface TickInfo {
  /** the scheduled time this run stands for (epoch ms); for manual runs, now */
  scheduled: number;
  /** epoch ms when it actually ran */
  at: number;
  kind: 'scheduled' | 'catch-up' | 'manual';
}

export interface ScheduleOptions {
  cron: string;
  timezone: string;
  onTick: (info: TickInfo) => void;
  clock?: Clock;
  store?: ScheduleStateStore;
  /** catch up once at start when a run was missed (default true) */
  catchUp?: boolean;
  /** wait before the catch-up run, so the rest of the flow has started (default 1000 ms) */
  catchUpDelayMs?: number;
  /** longest single timer; the schedule re-checks the clock at least this often (default 10 min) */
  maxTimerMs?: number;
  /** called when the state store or onTick fails (the schedule keeps running) */
  onError?: (err: Error) => void;
}

export class Schedule {
  private readonly job: Cron;
  private readonly clock: Clock;
  private timer: unknown = null;
  private nextAt: number | null = null;
  private stopped = false;
  private state: ScheduleState = {};

  constructor(private readonly opts: ScheduleOptions) {
    this.job = compileSchedule(opts.cron, opts.timezone);
    this.clock = opts.clock ?? systemClock;
  }

  /** Loads the state, decides on a catch-up run and arms the timer. Returns the catch-up time, if any. */
  start(): number | null {
    const now = this.clock.now();
    const loaded = this.load();
    const cron = this.opts.cron.trim();
    const missed = this.opts.catchUp === false ? null : missedRun(this.job, loaded, cron, this.opts.timezone, now);
    const changed = !loaded || loaded.cron !== cron || loaded.timezone !== this.opts.timezone;
    this.state = changed ? { since: now, cron, timezone: this.opts.timezone } : { ...loaded };
    if (missed === null) {
      // Nothing to catch up: account from now on (a later catch-up never looks before this start).
      this.state.since = now;
    }
    this.save();
    if (missed !== null) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = null;
        if (this.stopped) return;
        this.fire({ scheduled: missed, at: this.clock.now(), kind: 'catch-up' });
        this.arm();
      }, Math.max(0, this.opts.catchUpDelayMs ?? 1000));
      this.nextAt = this.job.nextRun(new Date(now))?.getTime() ?? null;
    } else {
      this.arm();
    }
    return missed;
  }

  /** The next scheduled run (epoch ms), or null. */
  next(): number | null {
    return this.nextAt;
  }

  lastRun(): number | undefined {
    return this.state.lastRun;
  }

  /** Runs now by hand (onTick with kind 'manual'); the schedule itself is unchanged. */
  runNow(): void {
    const at = this.clock.now();
    this.fire({ scheduled: at, at, kind: 'manual' });
  }

  /** Records a run made elsewhere (e.g. an input message) as the last run, without calling onTick. */
  recordRun(at: number = this.clock.now()): void {
    this.state.lastRun = at;
    this.save();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const next = this.job.nextRun(new Date(now));
    this.nextAt = next ? next.getTime() : null;
    if (this.nextAt === null) return;
    this.wait(this.nextAt);
  }

  private wait(target: number): void {
    const delay = Math.min(Math.max(0, target - this.clock.now()), this.opts.maxTimerMs ?? 10 * 60 * 1000);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      if (this.clock.now() < target) {
        this.wait(target); // woke early (long wait split up, or the clock moved back)
        return;
      }
      this.fire({ scheduled: target, at: this.clock.now(), kind: 'scheduled' });
      this.arm();
    }, delay);
  }

  private fire(info: TickInfo): void {
    this.state.lastRun = info.at;
    this.save();
    try {
      this.opts.onTick(info);
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  private load(): ScheduleState | undefined {
    try {
      return this.opts.store?.load();
    } catch (err) {
      this.opts.onError?.(err as Error);
      return undefined;
    }
  }

  private save(): void {
    try {
      this.opts.store?.save({ ...this.state });
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** 'YYYY-MM-DD HH:mm' of `epochMs` in `timezone` (for statuses). */
export function formatInZone(epochMs: number, timezone: string): string {
  const p = zonedParts(epochMs, timezone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}`;
}
