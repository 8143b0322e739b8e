/**
 * `npm run bench`: runs every bench module (bench/<name>.ts exporting
 * `run(): Promise<Array<{name, value, unit, baseline?, target?}>>`), one after
 * the other (each measures with nothing else running), and prints one table:
 * each figure next to its baseline and its SPEC §3 target, and whether the
 * target is met.
 *
 * Modules are found in this folder; these run first, in this order:
 *   call-overhead    llm-call-with-fallback vs a direct call at 500 req/s; capacity use under saturation
 *   queue            10,000 queued requests: RSS
 *   usage-aggregate  36,000 new-api hourly rows aggregated
 *   strategy-choice  routing strategy cost per request
 *   openai-endpoint  the OpenAI-compatible endpoint flow vs the Portkey gateway vs direct
 * then any other module with a run() export. `portkey` is the comparison
 * openai-endpoint is built on (its direct and Portkey columns are part of that
 * run), so it only runs when named: `node dist/bench/index.js portkey`.
 * `node dist/bench/index.js queue strategy-choice` runs only those; BENCH_QUICK=1
 * shortens the long ones.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { BenchResult } from './support/result';
export type { BenchResult };

const PREFERRED = ['call-overhead', 'queue', 'usage-aggregate', 'strategy-choice', 'openai-endpoint'];
/** Modules measured as part of another one: run only when named. */
const INCLUDED_IN: Record<string, string> = { portkey: 'openai-endpoint' };

/** The bench modules next to this file (compiled .js), in run order, without this one. */
export function benchModules(dir: string = __dirname, named: string[] = []): string[] {
  const self = path.basename(__filename, '.js');
  const found = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.js'))
    .map((e) => e.name.slice(0, -3))
    .filter((n) => n !== self);
  if (named.length > 0) return named.filter((n) => found.includes(n));
  const rest = found.filter((n) => !PREFERRED.includes(n) && !INCLUDED_IN[n]).sort();
  return [...PREFERRED.filter((n) => found.includes(n)), ...rest];
}

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

/** Long figure names wrap onto continuation rows so the table stays readable. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const w of text.split(' ')) {
    if (cur && cur.length + 1 + w.length > width) {
      out.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) out.push(cur);
  return out.length ? out : [''];
}

export function table(rows: Array<BenchResult & { bench: string }>): string {
  const NAME = 80;
  const head = ['bench', 'figure', 'value', 'baseline', 'target', 'met'];
  const body: string[][] = [];
  for (const r of rows) {
    const lines = wrap(r.name, NAME);
    body.push([r.bench, lines[0], `${fmt(r.value)} ${r.unit}`, r.baseline === undefined ? '' : `${fmt(r.baseline)} ${r.unit}`, r.target ?? '', verdict(r)]);
    for (const l of lines.slice(1)) body.push(['', `  ${l}`, '', '', '', '']);
  }
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
  return [line(head), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const named = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = benchModules(__dirname, named);
  for (const n of named) if (!names.includes(n)) console.log(`no bench module "${n}" (not built?)`);
  const rows: Array<BenchResult & { bench: string }> = [];
  const failed: string[] = [];
  let ran = 0;
  const t0 = Date.now();
  for (const name of names) {
    let mod: { run?: () => Promise<BenchResult[]> };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(path.join(__dirname, `${name}.js`));
    } catch (err) {
      failed.push(`${name}: cannot load: ${(err as Error)?.message ?? String(err)}`);
      continue;
    }
    if (typeof mod.run !== 'function') continue; // a helper module, not a bench
    const started = Date.now();
    process.stderr.write(`bench ${name} ...\n`);
    try {
      for (const r of await mod.run()) rows.push({ bench: name, ...r });
      ran++;
      process.stderr.write(`bench ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (err) {
      failed.push(`${name}: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
  console.log(table(rows));
  const missed = rows.filter((r) => verdict(r) === 'NO');
  console.log(
    `\n${rows.length} figures from ${ran} benches in ${((Date.now() - t0) / 1000).toFixed(0)} s; targets met: ${rows.filter((r) => verdict(r) === 'yes').length}, missed: ${missed.length}`,
  );
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
