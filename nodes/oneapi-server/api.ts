/**
 * What other nodes use from an oneapi-server config node:
 *   const server = RED.nodes.getNode(config.server) as OneApiServerNode | null;
 *   const client = server?.getClient();
 */
import type { Node } from '../shared/node-red-types';
import type { OneApiClient } from '../../engine/oneapi/client';
import type { FlavourSetting } from '../../engine/oneapi/types';

export interface OneApiServerNode extends Node {
  baseUrl: string;
  flavour: FlavourSetting;
  timeoutMs: number;
  dryRun: boolean;
  /** The shared admin client; throws OneApiError(BAD_CONFIG) when the configuration is unusable. */
  getClient(): OneApiClient;
  /** The credentials in force, for redacting errors (never to be logged). */
  secrets(): string[];
}

/** The oneapi-server node with this id, or null (missing, or another type). */
export function findOneApiServer(RED: { nodes: { getNode(id: string): unknown } }, id: unknown): OneApiServerNode | null {
  if (typeof id !== 'string' || !id) return null;
  const n = RED.nodes.getNode(id) as OneApiServerNode | null;
  return n && n.type === 'oneapi-server' && typeof n.getClient === 'function' ? n : null;
}
