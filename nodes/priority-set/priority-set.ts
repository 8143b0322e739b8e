/**
 * priority-set: applies {id|name, priority} / {id|name, weight} / {id|name, enabled} (one or a
 * list) to One API / new-api channels or to the router's local priority table.
 *
 * Output 1: one message per change {id, name, field, old, new, dryRun, verified}.
 * Output 2: one message per change that failed {id, name, field, value, error: {code, message}}.
 * A message whose payload cannot be used at all (wrong shape, no server) ends in done(err)
 * before anything is written; when some changes failed, the message also ends in done(err)
 * with a summary, after the results and failures were sent, so a Catch node sees it.
 * Server response bodies (which may carry a channel key) are never logged or forwarded.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { translator } from '../quota-check/i18n';
import { DebouncedStatus } from '../shared/status';
import { findOneApiServer } from '../oneapi-server/api';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { redactText } from '../../engine/secrets/redact';
import { applyChanges, gatewayTarget, knownChannels, localTarget, parseChangeRequests, type ApplyTarget, type PriorityClient } from '../../engine/quota/apply';

interface PrioritySetDef extends NodeDef {
  target?: string;
  server?: string;
  concurrency?: number | string;
  verify?: boolean;
  dryRun?: boolean;
}

export = function (RED: NodeAPI) {
  function PrioritySet(this: Node, def: PrioritySetDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'priority-set', __dirname);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const status = new DebouncedStatus(node);
    const targetKind: 'gateway' | 'local' = def.target === 'local' ? 'local' : 'gateway';
    const verify = def.verify === true || (def.verify as unknown) === 'true';
    const dryRun = def.dryRun === true || (def.dryRun as unknown) === 'true';
    const conc = def.concurrency === undefined || def.concurrency === '' ? 4 : Number(def.concurrency);
    let configError: Error | null = null;
    if (!Number.isInteger(conc) || conc < 1 || conc > 64) configError = new Error(`concurrency must be 1 to 64, got ${JSON.stringify(def.concurrency)}`);
    else if (targetKind === 'gateway' && !def.server) configError = new Error('no One API server selected (choose one, or the local priority table)');
    if (configError) {
      status.now({ fill: 'red', shape: 'ring', text: t('status.config') });
      node.error(t('errors.config', { error: configError.message }));
    }

    const secrets = (): string[] => findOneApiServer(RED, def.server)?.secrets() ?? [];
    let totalChanged = 0;

    onInput(
      node,
      async (msg, send) => {
        if (configError) throw new Error(t('errors.config', { error: configError.message }));
        const requests = parseChangeRequests(msg.payload);
        let target: ApplyTarget;
        if (targetKind === 'local') {
          target = localTarget(localPriorities);
        } else {
          const server = findOneApiServer(RED, def.server);
          if (!server) throw new Error(t('errors.noServer'));
          target = gatewayTarget(server.getClient() as unknown as PriorityClient);
        }
        status.set({ fill: 'blue', shape: 'ring', text: t('status.applying', { count: requests.length }) });
        let outcome;
        try {
          outcome = await applyChanges(requests, target, { concurrency: conc, verify, dryRun, channels: knownChannels(msg.channels) });
        } catch (err) {
          status.now({ fill: 'red', shape: 'ring', text: t('status.failed', { count: requests.length }) });
          throw err;
        }
        const s = secrets();
        const results: NodeMessage[] = outcome.results.map((r) => ({ topic: msg.topic ?? 'priority', payload: r }));
        const failures: NodeMessage[] = outcome.failures.map((f) => {
          const error = { code: f.error.code, message: redactText(f.error.message, s) };
          return { topic: msg.topic ?? 'priority', payload: { ...f, error }, error };
        });
        send([results.length ? results : null, failures.length ? failures : null]);
        const written = outcome.results.filter((r) => !r.dryRun).length;
        totalChanged += written;
        const anyDry = outcome.results.some((r) => r.dryRun);
        if (failures.length) {
          status.now({ fill: 'red', shape: 'ring', text: t('status.failed', { count: failures.length }) });
          const first = failures[0].payload as { id: unknown; name: unknown; error: { message: string } };
          throw new Error(
            t('errors.someFailed', {
              failed: failures.length,
              total: failures.length + results.length,
              channel: String(first.name ?? first.id),
              error: first.error.message,
            }),
          );
        }
        status.set({
          fill: anyDry ? 'yellow' : 'green',
          shape: 'dot',
          text: t(anyDry ? 'status.dryRun' : 'status.changed', { count: outcome.results.length, total: totalChanged }),
        });
      },
      secrets,
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.clear();
      done();
    });
  }

  RED.nodes.registerType('priority-set', PrioritySet as unknown as (this: Node, def: NodeDef) => void);
};
