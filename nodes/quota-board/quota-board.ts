/**
 * quota-board: a Dashboard 1 (node-red-dashboard 3.x) widget with one row per model: usage
 * bar, percent, state colour, priority and breaker state. Input: quota-check reports (one
 * report or an array). node-red-dashboard is loaded lazily; without it the node shows a
 * status and ignores input, and every other node keeps working.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from '../shared/node-red-types';
import { DebouncedStatus } from '../shared/status';
import { boardRows, breakerSignature, mergeBoardReports, type BoardRow } from '../../engine/dashboard/board';
import { looksLikeReport, normalizeReport } from '../../engine/dashboard/normalize';
import { readProviderSnapshots } from '../../engine/dashboard/providers';
import type { QuotaReport } from '../../engine/dashboard/types';
import { BOARD_TEMPLATE, boardController } from './widget';

interface BoardDef extends NodeDef {
  group?: string;
  order?: number | string;
  width?: number | string;
  height?: number | string;
}

interface DashboardApi {
  addWidget(options: Record<string, unknown>): (() => void) | undefined;
}

/** Reports per node id, so a redeploy keeps the board's rows. Deleting the node forgets them. */
const boards = new Map<string, Map<string, QuotaReport>>();

const BREAKER_POLL_MS = 3000;

/** The reports a message carries; throws a clear error when it carries none. */
function reportsOf(payload: unknown): QuotaReport[] {
  const items = Array.isArray(payload) ? payload : [payload];
  const reports = items.filter(looksLikeReport).map(normalizeReport);
  if (reports.length === 0 && !(Array.isArray(payload) && payload.length === 0)) {
    throw new Error('expected quota-check reports: msg.payload {model, used, limit, unit, percent, state, channels, priority} or an array of them');
  }
  return reports;
}

export = function (RED: NodeAPI) {
  function QuotaBoard(this: Node, def: BoardDef) {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node);
    let store = boards.get(node.id);
    if (!store) boards.set(node.id, (store = new Map()));
    const reports = store;

    let api: DashboardApi;
    try {
      const factory = RED.require('node-red-dashboard') as (red: NodeAPI) => DashboardApi;
      api = factory(RED);
      if (!api || typeof api.addWidget !== 'function') throw new Error('no addWidget');
    } catch {
      status.now({ fill: 'red', shape: 'ring', text: RED._('quota-board.status.noDashboard') });
      node.on('input', (_msg: NodeMessage, _send: unknown, done: (err?: Error) => void) => done());
      node.on('close', (removed: boolean, done: () => void) => {
        if (removed) boards.delete(node.id);
        done();
      });
      return;
    }

    const labels = {
      empty: RED._('quota-board.label.empty'),
      priority: RED._('quota-board.label.priority'),
      breaker: RED._('quota-board.label.breaker'),
      states: {
        ok: RED._('quota-board.label.ok'),
        warn: RED._('quota-board.label.warn'),
        exhausted: RED._('quota-board.label.exhausted'),
        unknown: RED._('quota-board.label.unknown'),
      },
    };

    const showStatus = (): void => {
      const list = [...reports.values()];
      if (list.length === 0) {
        status.set({ fill: 'grey', shape: 'ring', text: RED._('quota-board.status.waiting') });
        return;
      }
      const exhausted = list.filter((r) => r.state === 'exhausted').length;
      const warn = list.filter((r) => r.state === 'warn').length;
      status.set({
        fill: exhausted ? 'red' : warn ? 'yellow' : 'green',
        shape: 'dot',
        text: RED._('quota-board.status.summary', { models: list.length, warn, exhausted }),
      });
    };

    // Registered before the dashboard's own input handler, so it runs first on the same
    // message: it merges the reports, and drops the properties Dashboard 1 would otherwise
    // apply to the widget itself (msg.ui_control could replace the template).
    node.on('input', (msg: NodeMessage, _send: unknown, done: (err?: Error) => void) => {
      delete msg.ui_control;
      delete msg.template;
      delete msg.format;
      delete msg.className;
      const topic = typeof msg.topic === 'string' ? msg.topic.toLowerCase() : '';
      try {
        if (msg.reset === true || topic === 'clear' || topic === 'reset') reports.clear();
        else if (topic !== 'refresh') mergeBoardReports(reports, reportsOf(msg.payload));
        showStatus();
        done();
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });

    const rowsNow = (): BoardRow[] => boardRows(reports.values(), readProviderSnapshots() ?? []);

    let remove: (() => void) | undefined;
    try {
      const width = Number(def.width) || 0;
      remove = api.addWidget({
        node,
        group: def.group,
        order: Number(def.order) || 0,
        // width 0 = the group's width (addWidget's default when no width is given); height 0 = auto
        ...(width > 0 ? { width } : {}),
        height: Number(def.height) || 0,
        format: BOARD_TEMPLATE,
        templateScope: 'local',
        emitOnlyNewValues: false,
        forwardInputMessages: false,
        storeFrontEndInputAsState: false,
        persistantFrontEndValue: true,
        // The full dataset is always recomputed from the remembered reports (input already
        // merged above) and the providers' breakers.
        convert: (): BoardRow[] => rowsNow(),
        // Only these fields reach the browser: nothing else of the input message.
        beforeEmit: (_msg: NodeMessage, value: BoardRow[]) => ({ msg: { payload: value, labels } }),
        initController: boardController,
      });
    } catch (err) {
      node.error(RED._('quota-board.errors.widget', { error: err instanceof Error ? err.message : String(err) }));
    }
    if (!remove) {
      status.now({ fill: 'red', shape: 'ring', text: RED._('quota-board.status.noGroup') });
    } else {
      showStatus();
    }

    // Breakers change without new reports: re-render when their states change.
    let lastBreakers = '';
    const poll = setInterval(() => {
      const snaps = readProviderSnapshots();
      if (!snaps) return;
      const sig = breakerSignature(snaps);
      if (sig === lastBreakers) return;
      lastBreakers = sig;
      if (remove && reports.size) node.receive({ topic: 'refresh' });
    }, BREAKER_POLL_MS);

    // Show remembered rows again after a redeploy.
    const replay = reports.size && remove ? setTimeout(() => node.receive({ topic: 'refresh' }), 250) : null;

    node.on('close', (removed: boolean, done: () => void) => {
      clearInterval(poll);
      if (replay) clearTimeout(replay);
      status.clear();
      if (removed) boards.delete(node.id);
      try {
        remove?.();
      } catch {
        // the dashboard may already be gone
      }
      done();
    });
  }

  RED.nodes.registerType('quota-board', QuotaBoard);
};
