/**
 * The router's own priority table: the "channels" of users who do not run One API.
 * A local channel is one provider account + model (id "account/model"). Priority 0
 * means "do not route here" (llm-call-with-fallback skips it); status 2 is disabled.
 */

export interface LocalChannel {
  id: string;
  name: string;
  models: string[];
  priority: number;
  weight: number;
  /** 1 enabled, 2 disabled (the One API codes) */
  status: number;
}

export interface PriorityChange {
  id: string;
  oldPriority: number | null;
  priority: number;
}

type Listener = (channel: LocalChannel) => void;

export class LocalPriorityTable {
  private readonly channels = new Map<string, LocalChannel>();
  private readonly listeners = new Set<Listener>();

  static channelId(account: string, model: string): string {
    return `${account}/${model}`;
  }

  /** Adds a channel if it is not known yet; never overwrites a priority already set. */
  register(account: string, model: string, basePriority = 1): LocalChannel {
    const id = LocalPriorityTable.channelId(account, model);
    let ch = this.channels.get(id);
    if (!ch) {
      ch = { id, name: id, models: [model], priority: basePriority, weight: 1, status: 1 };
      this.channels.set(id, ch);
    }
    return ch;
  }

  list(): LocalChannel[] {
    return [...this.channels.values()].map((c) => ({ ...c, models: [...c.models] }));
  }

  /** Finds by id, or by name / model (case-insensitive). */
  find(idOrName: string): LocalChannel | undefined {
    const direct = this.channels.get(idOrName);
    if (direct) return direct;
    const k = idOrName.toLowerCase();
    for (const c of this.channels.values()) if (c.name.toLowerCase() === k) return c;
    return undefined;
  }

  /** All channels serving `model` (case-insensitive). */
  byModel(model: string): LocalChannel[] {
    const k = model.toLowerCase();
    return [...this.channels.values()].filter((c) => c.models.some((m) => m.toLowerCase() === k));
  }

  getPriority(account: string, model: string): number | undefined {
    return this.channels.get(LocalPriorityTable.channelId(account, model))?.priority;
  }

  /** Is routing to this account/model allowed by the table? Unknown channels are allowed. */
  allows(account: string, model: string): boolean {
    const ch = this.channels.get(LocalPriorityTable.channelId(account, model));
    return !ch || (ch.priority > 0 && ch.status === 1);
  }

  setPriority(idOrName: string, priority: number): PriorityChange {
    if (!Number.isInteger(priority)) throw new Error(`priority must be an integer, got ${JSON.stringify(priority)}`);
    let ch = this.find(idOrName);
    if (!ch) {
      // A channel named "account/model" may be set before its provider node starts.
      const slash = idOrName.indexOf('/');
      if (slash <= 0) throw new Error(`unknown local channel "${idOrName}"`);
      ch = this.register(idOrName.slice(0, slash), idOrName.slice(slash + 1), priority);
      const change = { id: ch.id, oldPriority: null, priority };
      this.emit(ch);
      return change;
    }
    const old = ch.priority;
    ch.priority = priority;
    this.emit(ch);
    return { id: ch.id, oldPriority: old, priority };
  }

  setStatus(idOrName: string, enabled: boolean): LocalChannel {
    const ch = this.find(idOrName);
    if (!ch) throw new Error(`unknown local channel "${idOrName}"`);
    ch.status = enabled ? 1 : 2;
    this.emit(ch);
    return { ...ch };
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.channels.clear();
  }

  private emit(ch: LocalChannel): void {
    for (const l of this.listeners) {
      try {
        l({ ...ch });
      } catch {
        /* a listener's failure must not break a priority write */
      }
    }
  }
}

/** The process-wide table shared by priority-set, quota-check and the routing nodes. */
export const localPriorities = new LocalPriorityTable();
