/**
 * The process-wide usage ledger in Redis (SPEC §5).
 *
 * Rule: while at least one provider account of this process has a Redis URL, the
 * process-wide ledger (`defaultLedger`, written by the routing nodes and read by
 * usage-fetch's local source) keeps its usage in Redis (RedisLedgerStore) on the
 * FIRST such URL, so every instance sharing that Redis reads and writes one
 * ledger. Usage recorded in memory before that is copied into Redis. Accounts
 * with another Redis URL share their limits there, but the ledger stays on the
 * first URL (`useSharedLedger` tells the caller). When the last account on that
 * URL goes away, the ledger returns to memory.
 */
import { defaultLedger, MemoryLedgerStore, type LedgerStore, type UsageLedger } from '../ledger/usage-ledger';
import { RedisLedgerStore } from '../ledger/redis-ledger-store';

interface Binding {
  url: string;
  refs: number;
  store: RedisLedgerStore;
  previous: LedgerStore;
}

const bindings = new WeakMap<UsageLedger, Binding>();

export interface SharedLedgerUse {
  /** true when this ledger now lives in Redis on `url` (false: it is on another URL) */
  bound: boolean;
  /** the URL the ledger lives on */
  url: string;
  /** drops this use; the last one returns the ledger to memory */
  release(): Promise<void>;
}

/** The Redis URL the ledger lives on, or null (memory). */
export function sharedLedgerUrl(ledger: UsageLedger = defaultLedger): string | null {
  return bindings.get(ledger)?.url ?? null;
}

/** Moves `ledger` (default: the process-wide one) into Redis on `redisUrl`, unless it already lives on a Redis URL. */
export function useSharedLedger(redisUrl: string, ledger: UsageLedger = defaultLedger): SharedLedgerUse {
  let b = bindings.get(ledger);
  if (b && b.url !== redisUrl) {
    return { bound: false, url: b.url, release: () => Promise.resolve() };
  }
  if (!b) {
    const previous = ledger.store;
    const store = new RedisLedgerStore({ redis: redisUrl });
    b = { url: redisUrl, refs: 0, store, previous };
    bindings.set(ledger, b);
    ledger.store = store;
    // Usage recorded in memory so far goes to Redis too (kept there while Redis is away).
    if (previous instanceof MemoryLedgerStore) {
      const rows = previous.range(-Infinity, Infinity);
      previous.clear(-Infinity, Infinity);
      for (const row of rows) void Promise.resolve(store.add(row)).catch(() => previous.add(row));
    }
  }
  b.refs += 1;
  const binding = b;
  let released = false;
  return {
    bound: true,
    url: redisUrl,
    release: async () => {
      if (released) return;
      released = true;
      binding.refs -= 1;
      if (binding.refs > 0 || bindings.get(ledger) !== binding) return;
      bindings.delete(ledger);
      if (ledger.store === binding.store) ledger.store = binding.previous;
      await binding.store.close().catch(() => undefined);
    },
  };
}
