/**
 * reset-schedule: on a cron schedule in an IANA timezone, emits the baseline priorities as
 * one priority-set message (payload = [{id|name, priority}, ...]); optionally clears today's
 * window of the local usage ledger and closes every circuit breaker. Catches up once at start
 * when a run was missed while Node-RED was down (the last run time is kept in a small file
 * under the Node-RED user directory). An input message runs it by hand.
 */
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { translator } from '../quota-check/i18n';
import { DebouncedStatus } from '../shared/status';
import { sanitizeError } from '../../engine/secrets/redact';
import { defaultLedger } from '../../engine/ledger/usage-ledger';
import { machineTimeZone } from '../../engine/usage/window';
import {
  FileStateStore,
  MemoryStateStore,
  Schedule,
  formatInZone,
  type ScheduleStateStore,
  type TickInfo,
} from '../../engine/schedule/schedule';
import { DEFAULT_BASELINES, baselinePayload, clearLedgerDay, closeAllBreakers, parseBaselines, type Baseline } from '../../engine/schedule/reset';

interface ResetScheduleDef extends NodeDef {
  cron?: string;
  timezone?: string;
  baselines?: unknown;
  resetLedger?: boolean;
  closeBreakers?: boolean;
  catchUp?: boolean;
  catchUpDelay?: number | string;
}

const DEFAULT_CRON = '20 2 * * *';

/** In-process state for when Node-RED has no user directory (kept across redeploys). */
const memoryStores = new Map<string, MemoryStateStore>();

function flag(v: unknown, fallback: boolean): boolean {
  if (v === undefined || v === null || v === '') return fallback;
  return v === true || v === 'true';
}

export = function (RED: NodeAPI) {
  function ResetSchedule(this: Node, def: ResetScheduleDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'reset-schedule', __dirname);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node);
    const cron = typeof def.cron === 'string' && def.cron.trim() !== '' ? def.cron.trim() : DEFAULT_CRON;
    const timezone = typeof def.timezone === 'string' && def.timezone.trim() !== '' ? def.timezone.trim() : machineTimeZone();
    const resetLedger = flag(def.resetLedger, false);
    const closeBreakers = flag(def.closeBreakers, false);
    const catchUp = flag(def.catchUp, true);
    const delay = Number(def.catchUpDelay);
    const catchUpDelayMs = Number.isFinite(delay) && delay >= 0 ? delay : 1000;

    let baselines: Baseline[] = [];
    let schedule: Schedule | null = null;
    let store: ScheduleStateStore | null = null;
    let configError: Error | null = null;

    const userDir = typeof RED.settings?.userDir === 'string' && RED.settings.userDir ? RED.settings.userDir : null;
    if (userDir) {
      store = new FileStateStore(path.join(userDir, '.llm-router'), node.id);
    } else {
      store = memoryStores.get(node.id) ?? new MemoryStateStore();
      memoryStores.set(node.id, store as MemoryStateStore);
    }

    const showNext = (): void => {
      const next = schedule?.next();
      status.now(
        next
          ? { fill: 'green', shape: 'dot', text: t('status.next', { time: formatInZone(next, timezone), timezone }) }
          : { fill: 'grey', shape: 'ring', text: t('status.noNext') },
      );
    };

    async function buildReset(info: TickInfo): Promise<NodeMessage> {
      let ledgerCleared: string | null = null;
      if (resetLedger) ledgerCleared = (await clearLedgerDay(defaultLedger, timezone, info.at)).day;
      const breakersClosed = closeBreakers ? closeAllBreakers() : null;
      return {
        topic: 'reset',
        payload: baselinePayload(baselines),
        reset: {
          kind: info.kind,
          scheduled: new Date(info.scheduled).toISOString(),
          at: new Date(info.at).toISOString(),
          timezone,
          cron,
          ledgerCleared,
          breakersClosed,
        },
      };
    }

    const onTick = (info: TickInfo): void => {
      buildReset(info).then(
        (msg) => {
          node.send(msg);
          showNext();
        },
        (err: unknown) => {
          node.error(sanitizeError(err), { topic: 'reset', payload: null });
          showNext();
        },
      );
    };

    try {
      baselines = def.baselines === undefined ? DEFAULT_BASELINES.map((b) => ({ ...b })) : parseBaselines(def.baselines);
      schedule = new Schedule({
        cron,
        timezone,
        store,
        catchUp,
        catchUpDelayMs,
        onTick,
        onError: (err) => node.warn(t('errors.state', { error: sanitizeError(err).message })),
      });
    } catch (err) {
      configError = err as Error;
      schedule = null;
    }

    if (configError) {
      status.now({ fill: 'red', shape: 'ring', text: t('status.config') });
      node.error(t('errors.config', { error: configError.message }));
    } else if (schedule) {
      const missed = schedule.start();
      if (missed !== null) node.log(t('log.catchUp', { time: formatInZone(missed, timezone), timezone }));
      showNext();
    }

    onInput(node, async (msg, send) => {
      if (configError || !schedule) throw new Error(t('errors.config', { error: configError?.message ?? 'not started' }));
      const at = Date.now();
      schedule.recordRun(at);
      const out = await buildReset({ scheduled: at, at, kind: 'manual' });
      msg.payload = out.payload;
      msg.reset = out.reset;
      if (msg.topic === undefined) msg.topic = out.topic;
      send(msg);
      showNext();
    });

    node.on('close', (removed: boolean, done: () => void) => {
      schedule?.stop();
      schedule = null;
      if (removed) {
        if (store instanceof FileStateStore) store.remove();
        memoryStores.delete(node.id);
      }
      status.clear();
      done();
    });
  }

  RED.nodes.registerType('reset-schedule', ResetSchedule as unknown as (this: Node, def: NodeDef) => void);
};
