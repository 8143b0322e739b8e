/**
 * `npm run bench`: runs every bench module's `run()` one after the other (each
 * measures with nothing else running) and prints one table: each figure next to
 * its baseline and its SPEC §3 target, and whether the target is met.
 *
 * Modules (bench/<name>.ts, each `run(): Promise<BenchResult[]>`):
 *   call-overhead    llm-call-with-fallback vs a direct call at 500 req/s; capacity use under saturation
 *   queue            10,000 queued requests: RSS
 *   usage-aggregate  36,000 new-api hourly rows aggregated
 *   strategy-choice  routing strategy cost per request
 *   openai-endpoint  the OpenAI-compatible endpoint flow vs the Portkey gateway vs direct
 * `node dist/bench/index.js queue strategy-choice` runs only those; BENCH_QUICK=1 shortens the long ones.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  target?: string;
}

const MODULES = ['call-overhead', 'queue', 'usage-aggregate', 'strategy-choice', 'openai-endpoint'];

/** 'yes' / 'NO' for targets of the forms "<= 0.3 ms", ">= 95 %", "< 150 MB", "0", "< Portkey (baseline)"; '' when there is none. */
export function verdict(r: BenchResult): string {
  if (!r.target) return '';
  const t = r.target.trim();
  let ok: boolean | null = null;
  if (/baseline/i.test(t) && r.baseline !== undefined) {
    const m = /^(<=|>=|<|>)/.exec(t);
    if (m) ok = compare(r.value, m[1], r.baseline);
  } else {
    const m = /^(<=|>=|<|>|=)?\s*(-?[\d.,]+)/.exec(t);
    if (m) ok = compare(r.value, m[1] ?? '=', Number(m[2].replace(/,/g, '')));
  }
  if (!Number.isFinite(r.value)) ok = false;
  return ok === null ? '?' : ok ? 'yes' : 'NO';
}

function compare(v: number, op: string, x: number): boolean {
  switch (op) {
    case '<=':
      return v <= x;
    case '>=':
      return v >= x;
    case '<':
      return v < x;
    case '>':
      return v > x;
    default:
      return v === x;
  }
}

function fmt(n: number | undefined): string {
  if (n === undefined) return '';
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : String(n);
}

export function table(rows: Array<BenchResult & { bench: string }>): string {
  const head = ['bench', 'figure', 'value', 'baseline', 'target', 'met'];
  const body = rows.map((r) => [r.bench, r.name, `${fmt(r.value)} ${r.unit}`, r.baseline === undefined ? '' : `${fmt(r.baseline)} ${r.unit}`, r.target ?? '', verdict(r)]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
  return [line(head), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = only.length > 0 ? MODULES.filter((m) => only.includes(m)) : MODULES;
  const rows: Array<BenchResult & { bench: string }> = [];
  const failed: string[] = [];
  const t0 = Date.now();
  for (const name of names) {
    const file = path.join(__dirname, `${name}.js`);
    if (!fs.existsSync(file)) {
      failed.push(`${name}: not built (bench/${name}.ts missing)`);
      continue;
    }
    const started = Date.now();
    process.stderr.write(`bench ${name} ...\n`);
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(file) as { run?: () => Promise<BenchResult[]> };
      if (typeof mod.run !== 'function') throw new Error('no run() export');
      for (const r of await mod.run()) rows.push({ bench: name, ...r });
      process.stderr.write(`bench ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (err) {
      failed.push(`${name}: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
  console.log(table(rows));
  const missed = rows.filter((r) => verdict(r) === 'NO');
  console.log(`\n${rows.length} figures from ${names.length - failed.length} benches in ${((Date.now() - t0) / 1000).toFixed(0)} s; targets met: ${rows.filter((r) => verdict(r) === 'yes').length}, missed: ${missed.length}`);
  for (const f of failed) console.log(`FAILED ${f}`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
