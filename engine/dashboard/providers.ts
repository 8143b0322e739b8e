/**
 * Live provider snapshots for the dashboard, read lazily from engine/providers/registry
 * (`providerRegistry.snapshots()`). The registry is optional: when it cannot be loaded, or
 * has no such export, or throws, `readProviderSnapshots()` returns null and the dashboard
 * simply emits nothing for the live outputs.
 */
import type { ProviderSnapshot } from '../routing/types';
import { normalizeSnapshot } from './normalize';

type SnapshotSource = () => ProviderSnapshot[] | null;

const REGISTRY_MODULE = '../providers/registry';

let override: SnapshotSource | null = null;

/** Replaces where snapshots come from (null restores the registry). For embedding and tests. */
export function setProviderSnapshotSource(source: SnapshotSource | null): void {
  override = source;
}

function fromRegistry(): ProviderSnapshot[] | null {
  let mod: unknown;
  try {
    // Resolved at call time: the registry module is optional.
    const path: string = REGISTRY_MODULE;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(path);
  } catch {
    return null;
  }
  const reg = (mod as { providerRegistry?: { snapshots?: () => unknown } } | null)?.providerRegistry;
  if (!reg || typeof reg.snapshots !== 'function') return null;
  const list = reg.snapshots();
  return Array.isArray(list) ? (list as ProviderSnapshot[]) : null;
}

/** The current snapshots (normalised copies), or null when no source is available. */
export function readProviderSnapshots(): ProviderSnapshot[] | null {
  let list: ProviderSnapshot[] | null;
  try {
    list = override ? override() : fromRegistry();
  } catch {
    return null;
  }
  if (!list) return null;
  return list
    .filter((s) => typeof s === 'object' && s !== null)
    .map((s) => normalizeSnapshot(s as unknown as Record<string, unknown>));
}
