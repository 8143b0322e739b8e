import type { Node, NodeStatus } from './node-red-types';

/**
 * Debounced node status: at most one update per `intervalMs`, always ending on the
 * latest state. `clear()` cancels any pending update and empties the status.
 */
export class DebouncedStatus {
  private pending: NodeStatus | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastSent = 0;
  private lastText: string | undefined;

  constructor(
    private readonly node: Node,
    private readonly intervalMs = 500,
  ) {}

  set(status: NodeStatus): void {
    this.pending = status;
    const now = Date.now();
    const wait = this.lastSent + this.intervalMs - now;
    if (wait <= 0 && !this.timer) {
      this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, Math.max(wait, 0));
      this.timer.unref?.();
    }
  }

  /** Shows a status now, bypassing the debounce (errors, one-off states). */
  now(status: NodeStatus): void {
    this.pending = status;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flush();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    this.lastText = undefined;
    this.node.status({});
  }

  private flush(): void {
    if (!this.pending) return;
    const s = this.pending;
    this.pending = null;
    this.lastSent = Date.now();
    const key = `${s.fill}|${s.shape}|${s.text}`;
    if (key === this.lastText) return;
    this.lastText = key;
    this.node.status(s);
  }
}
