/**
 * quota-check: compares usage rows with per-model allowances. Output 1: priority changes
 * (one message per channel to demote, only when its priority differs); output 2: one report
 * message (payload = a report per model); output 3: alerts, once per state change.
 *
 * The remembered states (for "once per state change") live in a module-level map keyed by
 * node id, so they survive redeploys, and are mirrored into global context under
 * `llmRouterQuota_<node id>`, so they also survive restarts when a persistent context store
 * is configured. Deleting the node forgets them.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { translator } from './i18n';
import { DebouncedStatus } from '../shared/status';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { fromUsageRows } from '../../engine/usage/normalize';
import { machineTimeZone } from '../../engine/usage/window';
import { isValidTimeZone } from '../../engine/time/zoned';
import { parseAllowances, parseChannelMap, type Allowance, type ChannelMap } from '../../engine/quota/allowances';
import { emptyMemory, evaluateQuota, isQuotaMemory, worstState, type QuotaChannel, type QuotaMemory } from '../../engine/quota/evaluate';

interface QuotaCheckDef extends NodeDef {
  allowances?: unknown;
  channelMap?: unknown;
  mode?: string;
  restore?: boolean;
}

const memories = new Map<string, QuotaMemory>();

function contextKey(id: string): string {
  return `llmRouterQuota_${id.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

export = function (RED: NodeAPI) {
  function QuotaCheck(this: Node, def: QuotaCheckDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'quota-check', __dirname);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node);
    const mode: 'gateway' | 'local' = def.mode === 'local' ? 'local' : 'gateway';
    const restore = def.restore === true || (def.restore as unknown) === 'true';

    let allowances: Allowance[] = [];
    let channelMap: ChannelMap | null = null;
    let configError: Error | null = null;
    try {
      allowances = parseAllowances(def.allowances);
      channelMap = parseChannelMap(def.channelMap);
    } catch (err) {
      configError = err as Error;
      status.now({ fill: 'red', shape: 'ring', text: t('status.config') });
      node.error(t('errors.config', { error: configError.message }));
    }

    const global = node.context().global;
    const loadMemory = (): QuotaMemory => {
      const inProcess = memories.get(node.id);
      if (inProcess) return inProcess;
      try {
        const stored = global.get(contextKey(node.id));
        if (isQuotaMemory(stored)) return stored;
      } catch {
        /* an async-only store cannot be read synchronously: start fresh */
      }
      return emptyMemory();
    };
    const saveMemory = (m: QuotaMemory): void => {
      memories.set(node.id, m);
      try {
        global.set(contextKey(node.id), m);
      } catch {
        /* the in-process copy is enough to survive redeploys */
      }
    };

    onInput(node, async (msg, send) => {
      if (configError) throw new Error(t('errors.config', { error: configError.message }));
      if (!Array.isArray(msg.payload)) {
        throw new Error(t('errors.payload', { type: msg.payload === null ? 'null' : typeof msg.payload }));
      }
      const { rows, skipped, reasons } = fromUsageRows(msg.payload);
      if (skipped) node.warn(t('errors.skipped', { count: skipped, reasons: reasons.join('; ') }));

      let channels: QuotaChannel[] = [];
      if (Array.isArray(msg.channels)) {
        channels = (msg.channels as unknown[]).filter(
          (c): c is QuotaChannel => !!c && typeof c === 'object' && (typeof (c as QuotaChannel).id === 'number' || typeof (c as QuotaChannel).id === 'string'),
        );
      } else if (mode === 'local') {
        channels = localPriorities.list();
      }

      const win = (msg.window && typeof msg.window === 'object' ? msg.window : {}) as { timezone?: unknown; firstDay?: unknown };
      const tz = isValidTimeZone(win.timezone) ? win.timezone : machineTimeZone();
      const result = evaluateQuota({
        allowances,
        rows,
        channels,
        channelMap,
        memory: loadMemory(),
        defaultTimeZone: tz,
        rowsFirstDay: typeof win.firstDay === 'string' ? win.firstDay : undefined,
        restoreOnRecovery: restore,
      });
      saveMemory(result.memory);

      const changes: NodeMessage[] = result.changes.map((c) => ({ topic: 'priority', payload: { ...c } }));
      const report: NodeMessage = {
        topic: 'quota-report',
        payload: result.reports,
        skipped,
        window: msg.window,
        ...(msg.channels === undefined && mode === 'gateway' && !channelMap ? { warning: t('errors.noChannels') } : {}),
      };
      const alerts: NodeMessage[] = result.alerts.map((a) => ({ topic: `quota/${a.model}`, payload: a }));
      send([changes.length ? changes : null, report, alerts.length ? alerts : null]);

      const worst = worstState(result.reports);
      if (worst) {
        status.set({
          fill: worst.state === 'ok' ? 'green' : worst.state === 'warn' ? 'yellow' : 'red',
          shape: 'dot',
          text: t(`status.${worst.state}`, { model: worst.model, percent: worst.percent, changes: result.changes.length }),
        });
      }
    });

    node.on('close', (removed: boolean, done: () => void) => {
      if (removed) {
        memories.delete(node.id);
        try {
          global.set(contextKey(node.id), undefined);
        } catch {
          /* nothing to forget */
        }
      }
      status.clear();
      done();
    });
  }

  RED.nodes.registerType('quota-check', QuotaCheck as unknown as (this: Node, def: NodeDef) => void);
};
