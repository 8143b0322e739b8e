/**
 * oneapi-server: configuration of one One API / new-api instance. Holds one shared admin client
 * (created with the node, closed with it) for every node that uses this server.
 */
import type { Node, NodeAPI, NodeDef } from '../shared/node-red-types';
import { OneApiClient, OneApiError } from '../../engine/oneapi/client';
import type { FlavourSetting } from '../../engine/oneapi/types';
import { redactText, sanitizeError } from '../../engine/secrets/redact';
import type { OneApiServerNode } from './api';

interface OneApiServerDef extends NodeDef {
  baseUrl?: string;
  flavour?: string;
  timeout?: number | string;
  dryRun?: boolean;
}


interface HttpApp {
  post(path: string, ...handlers: Array<(req: any, res: any, next?: () => void) => unknown>): void;
}

const PLACEHOLDER = '__PWRD__';

function parseFlavour(v: unknown): FlavourSetting {
  return v === 'one-api' || v === 'new-api' ? v : 'detect';
}

function parseTimeout(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), 600_000) : 15_000;
}

/** Keeps the reason visible when the message catalogue is not loaded (RED._ returns the key). */
function withReason(text: string, reason: string): string {
  return reason && !text.includes(reason) ? `${text}: ${reason}` : text;
}

export = function (RED: NodeAPI) {
  function OneApiServer(this: OneApiServerNode, def: OneApiServerDef) {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    node.baseUrl = typeof def.baseUrl === 'string' ? def.baseUrl.trim() : '';
    node.flavour = parseFlavour(def.flavour);
    node.timeoutMs = parseTimeout(def.timeout);
    node.dryRun = def.dryRun === true || (def.dryRun as unknown) === 'true';
    const creds = node.credentials ?? {};
    const token = typeof creds.accessToken === 'string' ? creds.accessToken.trim() : '';
    const userId = typeof creds.userId === 'string' ? creds.userId.trim() : '';
    node.secrets = () => [token];

    let client: OneApiClient | null = null;
    let configError: Error | null = null;
    try {
      client = new OneApiClient({
        baseUrl: node.baseUrl,
        flavour: node.flavour,
        accessToken: token,
        userId: userId || undefined,
        timeoutMs: node.timeoutMs,
        dryRun: node.dryRun,
        onDryRun: (line) => node.log(redactText(line, [token])),
      });
    } catch (err) {
      configError = sanitizeError(err, [token]);
      (configError as Error & { code?: string }).code = err instanceof OneApiError ? err.code : 'BAD_CONFIG';
      node.warn(withReason(RED._('oneapi-server.errors.config', { error: configError.message }), configError.message));
    }

    node.getClient = (): OneApiClient => {
      if (client) return client;
      const reason = configError?.message ?? '';
      throw new OneApiError(withReason(RED._('oneapi-server.errors.notConfigured', { error: reason }), reason), 'BAD_CONFIG');
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      try {
        client?.close();
      } finally {
        client = null;
        configError = new Error('closed');
        done();
      }
    });
  }

  RED.nodes.registerType('oneapi-server', OneApiServer as unknown as (this: Node, def: NodeDef) => void, {
    credentials: {
      accessToken: { type: 'password' },
      userId: { type: 'text' },
    },
  });

  // "Test connection" from the edit dialog. Returns only ok / flavour / version / channel count.
  const admin = RED.httpAdmin as HttpApp | undefined;
  if (admin && typeof admin.post === 'function') {
    admin.post('/oneapi-server/test', RED.auth.needsPermission('oneapi-server.write') as any, async (req: any, res: any) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const id = typeof body.id === 'string' ? body.id : '';
      const found = id ? (RED.nodes.getNode(id) as OneApiServerNode | null) : null;
      const deployed = found && found.type === 'oneapi-server' ? found : null;
      const baseUrl = typeof body.baseUrl === 'string' ? body.baseUrl.trim() : '';
      let token = typeof body.accessToken === 'string' ? body.accessToken.trim() : '';
      if (!token || token === PLACEHOLDER) {
        // The stored token is only ever sent to the server it was saved for.
        if (!deployed || deployed.baseUrl.replace(/\/+$/, '') !== baseUrl.replace(/\/+$/, '')) {
          res.json({ ok: false, code: 'BAD_CONFIG', error: RED._('oneapi-server.errors.reenterToken') });
          return;
        }
        token = deployed.credentials?.accessToken?.trim() ?? '';
      }
      let userId = typeof body.userId === 'string' || typeof body.userId === 'number' ? String(body.userId).trim() : '';
      if (!userId && deployed) userId = deployed.credentials?.userId?.trim() ?? '';
      let client: OneApiClient | null = null;
      try {
        client = new OneApiClient({
          baseUrl,
          flavour: parseFlavour(body.flavour),
          accessToken: token,
          userId: userId || undefined,
          timeoutMs: Math.min(parseTimeout(body.timeout), 20_000),
        });
        const status = await client.status();
        const channels = await client.listChannels();
        res.json({ ok: true, flavour: status.flavour, version: status.version, channels: channels.length });
      } catch (err) {
        const safe = sanitizeError(err, [token]);
        res.json({ ok: false, code: err instanceof OneApiError ? err.code : 'API_ERROR', error: safe.message });
      } finally {
        client?.close();
      }
    });
  }
};
