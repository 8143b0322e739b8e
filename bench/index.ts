/**
 * `npm run bench`: runs every bench module (bench/*.ts exporting
 * `run(): Promise<Array<{name, value, unit, baseline?, target?}>>`), one after
 * the other, and prints one table with each figure next to its baseline and
 * target. `node dist/bench/index.js <name> ...` runs only the modules named.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  target?: string;
}

interface ModuleResult {
  module: string;
  rows: BenchRow[];
  error?: string;
  seconds: number;
}

/** The bench modules next to this file (compiled .js), in name order, without this one. */
export function benchModules(dir: string = __dirname): string[] {
  const self = path.basename(__filename);
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.js') && e.name !== self)
    .map((e) => e.name.replace(/\.js$/, ''))
    .sort();
}

function fmt(v: number | undefined): string {
  if (v === undefined || v === null) return '';
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 1 : abs >= 1 ? 3 : 4;
  return String(Math.round(v * 10 ** digits) / 10 ** digits);
}

/** Plain-text table: module, figure, value, unit, baseline, target. Long names wrap. */
export function formatTable(results: ModuleResult[]): string {
  const NAME = 78;
  const head = ['module', 'figure', 'value', 'unit', 'baseline', 'target'];
  const lines: string[][] = [];
  for (const r of results) {
    if (r.error) {
      lines.push([r.module, `FAILED: ${r.error}`, '', '', '', '']);
      continue;
    }
    for (const row of r.rows) {
      const words = row.name.split(' ');
      const chunks: string[] = [];
      let cur = '';
      for (const w of words) {
        if (cur && cur.length + 1 + w.length > NAME) {
          chunks.push(cur);
          cur = w;
        } else cur = cur ? `${cur} ${w}` : w;
      }
      if (cur) chunks.push(cur);
      chunks.forEach((c, i) =>
        lines.push(i === 0 ? [r.module, c, fmt(row.value), row.unit, fmt(row.baseline), row.target ?? ''] : ['', `  ${c}`, '', '', '', '']),
      );
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells: string[]) =>
    cells
      .map((c, i) => (i === 2 || i === 4 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [render(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(render)].join('\n');
}

export async function runAll(only: string[] = []): Promise<ModuleResult[]> {
  const results: ModuleResult[] = [];
  for (const name of benchModules()) {
    if (only.length > 0 && !only.includes(name)) continue;
    const t0 = performance.now();
    let mod: { run?: () => Promise<BenchRow[]> };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(path.join(__dirname, name));
    } catch (e) {
      results.push({ module: name, rows: [], error: `cannot load: ${(e as Error).message}`, seconds: 0 });
      continue;
    }
    if (typeof mod.run !== 'function') continue; // a helper, not a bench
    process.stderr.write(`bench: ${name} ...\n`);
    try {
      const rows = await mod.run();
      results.push({ module: name, rows: Array.isArray(rows) ? rows : [], seconds: (performance.now() - t0) / 1000 });
    } catch (e) {
      results.push({ module: name, rows: [], error: (e as Error)?.message ?? String(e), seconds: (performance.now() - t0) / 1000 });
    }
    process.stderr.write(`bench: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return results;
}

if (require.main === module) {
  const only = process.argv.slice(2);
  runAll(only).then(
    (results) => {
      console.log(formatTable(results));
      const failed = results.filter((r) => r.error);
      process.exit(failed.length > 0 ? 1 : 0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
