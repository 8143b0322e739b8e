/**
 * Reads back what a Dashboard 1 (node-red-dashboard 3.x) page really shows, for browser tests:
 * the live Chart.js 2 charts (data, labels, stacking as configured in the running chart),
 * ui_table (Tabulator) rows and the quota-board rows. Widgets are found by the `node-id`
 * attribute Dashboard 1 puts on each widget's md-card, so a test names the flow node it means.
 */
import type { Page } from 'playwright-core';

export interface ChartState {
  /** the ui_chart node id */
  nodeId: string;
  type: string;
  labels: string[];
  datasets: Array<{ label: string; data: unknown[] }>;
  /** the `stacked` flags of the running chart's x and y axes */
  stacked: { x: boolean[]; y: boolean[] };
}

/** Every Chart.js instance on the page, keyed by the ui_chart node id it belongs to. */
export async function readCharts(page: Page): Promise<Record<string, ChartState>> {
  return page.evaluate(() => {
    const out: Record<string, unknown> = {};
    const w = window as unknown as { Chart?: { instances?: Record<string, any> } };
    const instances = w.Chart && w.Chart.instances ? Object.values(w.Chart.instances) : [];
    for (const c of instances) {
      // Chart.js 2.x before 2.7 keeps the canvas on chart.chart.canvas
      const canvas = c.canvas || (c.chart && c.chart.canvas);
      const card = canvas && canvas.closest ? canvas.closest('md-card[node-id]') : null;
      if (!card) continue;
      const scales = (c.options && c.options.scales) || {};
      const flags = (axes: any[] | undefined): boolean[] => (Array.isArray(axes) ? axes.map((a) => a && a.stacked === true) : []);
      out[card.getAttribute('node-id')] = {
        nodeId: card.getAttribute('node-id'),
        type: c.config.type,
        labels: (c.data.labels || []).map((l: unknown) => String(l)),
        datasets: (c.data.datasets || []).map((d: any) => ({ label: String(d.label), data: JSON.parse(JSON.stringify(d.data || [])) })),
        stacked: { x: flags(scales.xAxes), y: flags(scales.yAxes) },
      };
    }
    return out as Record<string, ChartState>;
  });
}

/** The rows of the ui_table with this node id: one object per row, field -> cell text. */
export async function readTable(page: Page, nodeId: string): Promise<Array<Record<string, string>>> {
  return page.evaluate((id) => {
    const card = document.querySelector(`md-card[node-id="${id}"]`);
    if (!card) return [];
    return [...card.querySelectorAll('.tabulator-row')].map((row) => {
      const o: Record<string, string> = {};
      for (const cell of row.querySelectorAll('.tabulator-cell[tabulator-field]')) o[cell.getAttribute('tabulator-field') as string] = (cell.textContent || '').trim();
      return o;
    });
  }, nodeId);
}

export interface BoardRowView {
  model: string;
  percent: string;
  used: string;
  state: string;
  /** the row's state class (lqb-state-ok|warn|exhausted|unknown) */
  stateClass: string;
  priority: string;
  breaker: string;
  /** computed colour of the percent text */
  color: string;
  /** the bar's inline width */
  barWidth: string;
}

/** The quota-board rows of the widget with this node id. */
export async function readBoard(page: Page, nodeId: string): Promise<BoardRowView[]> {
  return page.evaluate((id) => {
    const card = document.querySelector(`md-card[node-id="${id}"]`);
    if (!card) return [];
    const text = (el: Element | null): string => (el ? (el.textContent || '').replace(/\s+/g, ' ').trim() : '');
    return [...card.querySelectorAll('.lqb-row')].map((row) => ({
      model: text(row.querySelector('.lqb-model')),
      percent: text(row.querySelector('.lqb-pct')),
      used: text(row.querySelector('.lqb-used')),
      state: text(row.querySelector('.lqb-state')),
      stateClass: [...row.classList].find((c) => c.startsWith('lqb-state-')) || '',
      priority: text(row.querySelector('.lqb-priority')),
      breaker: text(row.querySelector('.lqb-breaker')),
      color: row.querySelector('.lqb-pct') ? getComputedStyle(row.querySelector('.lqb-pct') as Element).color : '',
      barWidth: (row.querySelector('.lqb-fill') as HTMLElement | null)?.style.width || '',
    }));
  }, nodeId);
}

/**
 * Console messages that Dashboard 1 itself logs on every page load, also with only a stock
 * ui_text widget: its shell requests /ui/loading.html (404) and its menu asks for the
 * "left" side navigation before it exists. Anything else is an error of the page under test.
 */
export const DASHBOARD1_FRAMEWORK_NOISE: RegExp[] = [
  /^console\.error: Failed to load resource: the server responded with a status of 404 \(Not Found\) \(https?:\/\/[^/]+\/ui\/loading\.html\)$/,
  /^console\.error: SideNav 'left' is not available! Did you use md-component-id='left'\? \(https?:\/\/[^/]+\/ui\/js\/app\.min\.js\)$/,
];

/** `errors` without the known Dashboard 1 framework messages. */
export function withoutFrameworkNoise(errors: string[]): string[] {
  return errors.filter((e) => !DASHBOARD1_FRAMEWORK_NOISE.some((re) => re.test(e)));
}
