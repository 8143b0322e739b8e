/**
 * llm-provider: one account of an OpenAI-compatible API. Builds the account's
 * engine object (HTTP client, limiter, circuit breakers, health probe), puts it in
 * the process-wide provider registry, where every routing node finds it by id or
 * name, and registers each served model as a local channel ("account/model").
 */
import type { Node, NodeAPI, NodeDef } from '../shared/node-red-types';
import { ProviderAccount, providerRegistry } from '../../engine/providers';
import { accountConfig, type LlmProviderDef } from './config';
import { localPriorities } from '../../engine/ledger/local-priorities';
import { sanitizeError } from '../../engine/secrets/redact';
import type { SharedLedgerUse } from '../../engine/shared-store/shared-ledger';

interface LlmProviderNode extends Node {
  account: ProviderAccount | null;
  configError: string | null;
}

interface HttpApp {
  get(path: string, ...handlers: Array<(req: any, res: any, next?: () => void) => unknown>): void;
}

const routesAdded = new WeakSet<object>();

export = function (RED: NodeAPI): void {
  function LlmProvider(this: LlmProviderNode, def: LlmProviderDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const apiKey = typeof node.credentials?.apiKey === 'string' ? node.credentials.apiKey.trim() : '';
    const redisPassword = typeof node.credentials?.redisPassword === 'string' ? node.credentials.redisPassword : '';
    node.account = null;
    node.configError = null;
    let ledgerUse: SharedLedgerUse | null = null;
    let stopShared: (() => void) | null = null;
    let sharedWasLost = false;
    try {
      const account = new ProviderAccount(accountConfig(def, apiKey, redisPassword));
      for (const other of providerRegistry.list()) {
        if (other.id !== account.id && other.name.toLowerCase() === account.name.toLowerCase()) {
          node.warn(RED._('llm-provider.errors.duplicateName', { name: account.name }));
        }
      }
      providerRegistry.register(account);
      for (const m of account.listModels()) localPriorities.register(account.name, m.name);
      node.account = account;
      if (account.redisUrl) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const shared = require('../../engine/shared-store') as typeof import('../../engine/shared-store');
        const where = shared.displayRedisUrl(account.redisUrl);
        // The process-wide usage ledger lives in Redis while an account uses it (the first URL wins).
        ledgerUse = shared.useSharedLedger(account.redisUrl);
        if (!ledgerUse.bound) node.warn(RED._('llm-provider.errors.ledgerElsewhere', { url: shared.displayRedisUrl(ledgerUse.url) }));
        stopShared = account.onEvent((e) => {
          if (e.type !== 'shared') return;
          if (e.state === 'local-fallback') {
            const share = Math.round((account.sharedLimiter?.fallbackShare ?? 1) * 100);
            node.warn(RED._('llm-provider.errors.sharedLost', { url: where, share }));
            sharedWasLost = true;
          } else if (sharedWasLost) node.log(RED._('llm-provider.errors.sharedBack', { url: where }));
        });
      }
    } catch (err) {
      node.configError = sanitizeError(err, [apiKey, redisPassword]).message;
      node.error(RED._('llm-provider.errors.config', { error: node.configError }));
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      const account = node.account;
      node.account = null;
      stopShared?.();
      const use = ledgerUse;
      ledgerUse = null;
      if (!account) {
        done();
        return;
      }
      providerRegistry.unregister(account.id, account);
      account
        .close()
        .then(() => use?.release())
        .then(
          () => done(),
          () => done(),
        );
    });
  }

  RED.nodes.registerType('llm-provider', LlmProvider as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { apiKey: { type: 'password' }, redisPassword: { type: 'password' } },
  });

  const admin = RED.httpAdmin as HttpApp | undefined;
  if (admin && typeof admin.get === 'function' && !routesAdded.has(admin)) {
    routesAdded.add(admin);
    // Live state of the deployed accounts for the editor (no credentials in snapshots).
    admin.get('/llm-provider/status', RED.auth.needsPermission('llm-provider.read') as any, (req: any, res: any) => {
      try {
        const id = typeof req.query?.id === 'string' ? req.query.id : '';
        const list = providerRegistry.snapshots().filter((s) => !id || s.id === id);
        res.json(list);
      } catch {
        res.status(500).json({ error: 'status unavailable' });
      }
    });
  }
};
