/**
 * The process-wide registry of provider accounts (one per llm-provider config
 * node). Routing nodes find accounts here by config node id or by name; the
 * dashboard reads snapshots; reset-schedule closes breakers.
 */
import type { ProviderSnapshot } from '../routing/types';
import type { AccountEvent, ProviderAccount } from './account';

export type RegistryEvent = AccountEvent | { type: 'registered' | 'unregistered'; account: ProviderAccount };
type Listener = (e: RegistryEvent) => void;

export class ProviderRegistry {
  private readonly byId = new Map<string, ProviderAccount>();
  private readonly unsubscribe = new Map<string, () => void>();
  private readonly listeners = new Set<Listener>();

  /** Adds an account (replacing one with the same id, which is NOT closed here: its owner closes it). */
  register(account: ProviderAccount): void {
    const old = this.byId.get(account.id);
    if (old === account) return;
    if (old) this.unregister(old.id);
    this.byId.set(account.id, account);
    this.unsubscribe.set(
      account.id,
      account.onEvent((e) => this.emit(e)),
    );
    this.emit({ type: 'registered', account });
  }

  /** Removes the account with this id (only if it is `expected`, when given). Returns whether one was removed. */
  unregister(id: string, expected?: ProviderAccount): boolean {
    const acc = this.byId.get(id);
    if (!acc || (expected && acc !== expected)) return false;
    this.byId.delete(id);
    this.unsubscribe.get(id)?.();
    this.unsubscribe.delete(id);
    this.emit({ type: 'unregistered', account: acc });
    return true;
  }

  /** By config node id, else by name (exact, then case-insensitive). */
  get(idOrName: string): ProviderAccount | undefined {
    if (typeof idOrName !== 'string' || idOrName === '') return undefined;
    const direct = this.byId.get(idOrName);
    if (direct) return direct;
    for (const a of this.byId.values()) if (a.name === idOrName) return a;
    const k = idOrName.toLowerCase();
    for (const a of this.byId.values()) if (a.name.toLowerCase() === k) return a;
    return undefined;
  }

  list(): ProviderAccount[] {
    return [...this.byId.values()];
  }

  snapshots(): ProviderSnapshot[] {
    return this.list().map((a) => a.snapshot());
  }

  /** Closes every breaker of every account; returns how many were open or half-open. */
  resetBreakers(): number {
    let n = 0;
    for (const a of this.byId.values()) n += a.resetBreakers();
    return n;
  }

  /** Account events (capacity, breaker, health) and registrations. */
  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: RegistryEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a listener's failure must not break the registry */
      }
    }
  }
}

export const providerRegistry = new ProviderRegistry();
