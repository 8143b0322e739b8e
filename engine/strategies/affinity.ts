/**
 * Session affinity: session id -> candidate key, so a conversation keeps landing on the same
 * account/model (warm prompt caches, consistent behaviour) until that candidate fails or the
 * TTL ends. The TTL counts from the last time the pin was set or confirmed (each success).
 * Bounded: beyond `maxSize` the least recently confirmed session is dropped. No timers.
 */

export interface AffinityOptions {
  /** ms a pin lives after its last confirmation (default 30 min) */
  ttlMs?: number;
  /** sessions kept at most (default 10 000) */
  maxSize?: number;
  now?: () => number;
}

interface Pin {
  key: string;
  expiresAt: number;
}

export class AffinityMap {
  readonly ttlMs: number;
  readonly maxSize: number;
  private readonly now: () => number;
  private readonly pins = new Map<string, Pin>();

  constructor(opts: AffinityOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 30 * 60_000;
    this.maxSize = opts.maxSize ?? 10_000;
    if (!(this.ttlMs > 0)) throw new Error('affinity ttlMs must be > 0');
    if (!Number.isInteger(this.maxSize) || this.maxSize < 1) throw new Error('affinity maxSize must be an integer >= 1');
    this.now = opts.now ?? Date.now;
  }

  /** The candidate key the session is pinned to, if the pin is still alive. */
  get(session: string): string | undefined {
    const p = this.pins.get(session);
    if (!p) return undefined;
    if (p.expiresAt <= this.now()) {
      this.pins.delete(session);
      return undefined;
    }
    return p.key;
  }

  /** Pin (or confirm) a session on a candidate; restarts its TTL. */
  set(session: string, key: string): void {
    const existing = this.pins.get(session);
    const expiresAt = this.now() + this.ttlMs;
    if (existing) {
      this.pins.delete(session); // re-insert: most recently confirmed last
      existing.key = key;
      existing.expiresAt = expiresAt;
      this.pins.set(session, existing);
    } else {
      this.pins.set(session, { key, expiresAt });
    }
    while (this.pins.size > this.maxSize) {
      const oldest = this.pins.keys().next().value as string;
      this.pins.delete(oldest);
    }
  }

  /** Drop the session's pin. With `key`, only when it is pinned to that key. */
  forget(session: string, key?: string): boolean {
    const p = this.pins.get(session);
    if (!p || (key !== undefined && p.key !== key)) return false;
    return this.pins.delete(session);
  }

  /** Drop every pin on `key` (e.g. its breaker opened). O(sessions); meant for rare events. */
  forgetKey(key: string): number {
    let n = 0;
    for (const [session, p] of this.pins) {
      if (p.key === key) {
        this.pins.delete(session);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.pins.size;
  }

  clear(): void {
    this.pins.clear();
  }
}
