/**
 * usage-fetch: per-model usage for a window (today / last N days) plus the channel list,
 * from One API, new-api or the router's own ledger. Triggered by input or its own interval.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { translator } from '../quota-check/i18n';
import { DebouncedStatus } from '../shared/status';
import { findOneApiServer } from '../oneapi-server/api';
import { defaultLedger } from '../../engine/ledger/usage-ledger';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { sanitizeError } from '../../engine/secrets/redact';
import { fetchUsage, isUsageSource, type FetchUsageResult, type UsageClient, type UsageSource } from '../../engine/usage/fetch';
import { describeWindow, machineTimeZone, parseWindowSpec, usageWindow, type WindowSpec } from '../../engine/usage/window';
import { assertTimeZone, zonedParts } from '../../engine/time/zoned';

interface UsageFetchDef extends NodeDef {
  server?: string;
  source?: string;
  window?: string;
  days?: number | string;
  timezone?: string;
  interval?: number | string;
}

const MAX_INTERVAL_S = 24 * 3600;

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export = function (RED: NodeAPI) {
  function UsageFetch(this: Node, def: UsageFetchDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'usage-fetch', __dirname);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node);

    let configError: Error | null = null;
    const source: UsageSource = isUsageSource(def.source) ? def.source : 'auto';
    const timezone = typeof def.timezone === 'string' && def.timezone.trim() !== '' ? def.timezone.trim() : machineTimeZone();
    let spec: WindowSpec = { type: 'today' };
    let intervalS = 0;
    try {
      if (def.source !== undefined && def.source !== '' && !isUsageSource(def.source)) throw new Error(`unknown source "${String(def.source)}"`);
      assertTimeZone(timezone);
      spec = parseWindowSpec(def.window || 'today', def.days);
      const iv = def.interval === undefined || def.interval === '' ? 0 : Number(def.interval);
      if (!Number.isFinite(iv) || iv < 0 || iv > MAX_INTERVAL_S) throw new Error(`interval must be 0 to ${MAX_INTERVAL_S} seconds, got ${JSON.stringify(def.interval)}`);
      intervalS = iv;
      if (source !== 'local' && !def.server) throw new Error('no One API server selected (choose one, or the local ledger source)');
    } catch (err) {
      configError = err as Error;
    }

    let closed = false;
    let inFlight: Promise<unknown> | null = null;
    let timer: NodeJS.Timeout | null = null;
    let firstTimer: NodeJS.Timeout | null = null;

    const secrets = (): string[] => {
      const server = findOneApiServer(RED, def.server);
      return server ? server.secrets() : [];
    };

    const showError = (err: Error): void => {
      const code = (err as { code?: unknown }).code;
      status.now({ fill: 'red', shape: 'ring', text: t('status.error', { error: typeof code === 'string' ? code : err.message.slice(0, 40) }) });
    };

    if (configError) {
      status.now({ fill: 'red', shape: 'ring', text: t('status.config') });
      node.error(t('errors.config', { error: configError.message }));
    } else {
      status.now({ fill: 'grey', shape: 'ring', text: t('status.idle') });
    }

    async function fetchOnce(): Promise<FetchUsageResult & { window: ReturnType<typeof describeWindow> }> {
      if (configError) throw new Error(t('errors.config', { error: configError.message }));
      let client: UsageClient | null = null;
      if (source !== 'local') {
        const server = findOneApiServer(RED, def.server);
        if (!server) throw new Error(t('errors.noServer'));
        client = server.getClient() as unknown as UsageClient;
      }
      const window = usageWindow(spec, timezone, Date.now());
      status.set({ fill: 'blue', shape: 'ring', text: t('status.fetching') });
      const res = await fetchUsage({ source, window, client, ledger: defaultLedger, localChannels: () => localPriorities.list() });
      if (closed) throw new Error(t('errors.closed'));
      const models = new Set(res.rows.map((r) => r.model.toLowerCase())).size;
      const p = zonedParts(Date.now(), timezone);
      status.now({
        fill: res.skipped ? 'yellow' : 'green',
        shape: 'dot',
        text: t(res.skipped ? 'status.fetchedSkipped' : 'status.fetched', {
          rows: res.rows.length,
          models,
          skipped: res.skipped,
          time: `${pad(p.hour)}:${pad(p.minute)}`,
        }),
      });
      if (res.skipped) node.warn(t('errors.skipped', { count: res.skipped, reasons: res.reasons.join('; ') }));
      return { ...res, window: describeWindow(window) };
    }

    function fill(msg: NodeMessage, res: Awaited<ReturnType<typeof fetchOnce>>): NodeMessage {
      msg.payload = res.rows;
      msg.channels = res.channels;
      msg.window = res.window;
      msg.source = res.source;
      msg.skipped = res.skipped;
      msg.quotaPerUnit = res.quotaPerUnit;
      return msg;
    }

    onInput(
      node,
      async (msg, send) => {
        const job = fetchOnce();
        inFlight = job;
        try {
          const res = await job;
          send(fill(msg, res));
        } catch (err) {
          showError(sanitizeError(err, secrets()));
          throw err;
        } finally {
          if (inFlight === job) inFlight = null;
        }
      },
      secrets,
    );

    const tick = (): void => {
      if (closed || inFlight) return; // a fetch is still running: skip this tick
      const job = fetchOnce();
      inFlight = job;
      job
        .then(
          (res) => {
            if (!closed) node.send(fill({ topic: 'usage' }, res));
          },
          (err: unknown) => {
            if (closed) return;
            const safe = sanitizeError(err, secrets());
            showError(safe);
            node.error(safe, { topic: 'usage', payload: null, error: { message: safe.message, code: (safe as { code?: string }).code } } as NodeMessage);
          },
        )
        .finally(() => {
          if (inFlight === job) inFlight = null;
        });
    };

    if (!configError && intervalS > 0) {
      timer = setInterval(tick, intervalS * 1000);
      // A first fetch shortly after start, so dashboards fill without waiting a whole interval.
      firstTimer = setTimeout(tick, Math.min(1000, intervalS * 1000));
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      if (timer) clearInterval(timer);
      if (firstTimer) clearTimeout(firstTimer);
      timer = null;
      firstTimer = null;
      status.clear();
      done();
    });
  }

  RED.nodes.registerType('usage-fetch', UsageFetch as unknown as (this: Node, def: NodeDef) => void);
};
