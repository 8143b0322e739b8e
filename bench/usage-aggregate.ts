/**
 * usage-fetch aggregation: 30 days x 50 models of new-api hourly rows (36,000) grouped into
 * per-day, per-model rows in a timezone with a DST change inside the window. Target < 200 ms.
 * The baseline is a plain per-row aggregation that formats every row's day with Intl,
 * i.e. what the work costs without the offset and day-key caches.
 */
import { fromQuotaData } from '../engine/usage/normalize';
import { usageWindow } from '../engine/usage/window';

import type { BenchResult } from './support/result';
export type { BenchResult };

const DAYS = 30;
const MODELS = 50;
const TZ = 'Europe/Berlin';

function makeRows(end: number): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = [];
  const endHour = Math.floor(end / 3600_000) * 3600;
  for (let h = DAYS * 24 - 1; h >= 0; h--) {
    const created = endHour - h * 3600;
    for (let m = 0; m < MODELS; m++) {
      rows.push({ id: 0, user_id: 0, username: '', model_name: `model-${m}`, created_at: created, token_used: 1000 + m, count: 3, quota: 2000 + m });
    }
  }
  return rows;
}

function naive(rows: Array<Record<string, unknown>>, tz: string): number {
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
  const map = new Map<string, { tokens: number; count: number; quota: number }>();
  for (const r of rows) {
    const day = fmt.format(new Date((r.created_at as number) * 1000));
    const key = `${day}|${r.model_name as string}`;
    const cur = map.get(key) ?? { tokens: 0, count: 0, quota: 0 };
    cur.tokens += r.token_used as number;
    cur.count += r.count as number;
    cur.quota += r.quota as number;
    map.set(key, cur);
  }
  return map.size;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function run(): Promise<BenchResult[]> {
  // A window that contains the Berlin fall-back day (2026-10-25).
  const end = Date.UTC(2026, 10, 5, 12);
  const rows = makeRows(end);
  const window = usageWindow({ type: 'days', days: DAYS + 1 }, TZ, end);
  const ours: number[] = [];
  const base: number[] = [];
  let outRows = 0;
  for (let i = 0; i < 7; i++) {
    // Fresh offset caches matter little: measure cold-ish and warm runs alike, take the median.
    let t = process.hrtime.bigint();
    const res = fromQuotaData(rows, TZ, { days: window.dayKeys });
    ours.push(Number(process.hrtime.bigint() - t) / 1e6);
    outRows = res.rows.length;
    if (res.skipped !== 0) throw new Error('bench rows were skipped');
    t = process.hrtime.bigint();
    naive(rows, TZ);
    base.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  if (outRows < DAYS * MODELS) throw new Error(`expected at least ${DAYS * MODELS} rows, got ${outRows}`);
  return [
    {
      name: `usage-fetch: aggregate ${rows.length.toLocaleString('en-US')} new-api hourly rows (${DAYS} days x ${MODELS} models) into days (median of 7)`,
      value: Math.round(median(ours) * 100) / 100,
      unit: 'ms',
      baseline: Math.round(median(base) * 100) / 100,
      target: '< 200 ms',
    },
    {
      name: 'usage-fetch: first (cold) aggregation of the same rows',
      value: Math.round(ours[0] * 100) / 100,
      unit: 'ms',
      baseline: Math.round(base[0] * 100) / 100,
      target: '< 200 ms',
    },
  ];
}

if (require.main === module) {
  run().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
