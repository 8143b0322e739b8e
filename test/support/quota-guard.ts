/** Small helpers shared by the quota-guard node tests (usage-fetch, quota-check, priority-set, reset-schedule). */
import { waitFor } from './ports';

export interface Collector {
  msgs: any[];
  /** waits until at least `n` messages arrived (default 1), returns them */
  wait(n?: number, timeoutMs?: number): Promise<any[]>;
}

/** Collects every message a helper node receives. */
export function collect(helper: any, id: string): Collector {
  const msgs: any[] = [];
  helper.getNode(id).on('input', (msg: any) => msgs.push(msg));
  return {
    msgs,
    wait: async (n = 1, timeoutMs = 5000) => (await waitFor(() => (msgs.length >= n ? msgs : null), timeoutMs, 10, `${n} message(s) at ${id}`)) as any[],
  };
}

/** The last status a node showed (the helper spies on Node.prototype.status). */
export function lastStatus(helper: any, id: string): { fill?: string; shape?: string; text?: string } | undefined {
  const n = helper.getNode(id);
  const calls = n.status.getCalls ? n.status.getCalls().filter((c: any) => c.thisValue === n) : [];
  const last = calls[calls.length - 1];
  return last ? last.args[0] : undefined;
}

/** Everything the runtime logged so far, as one string (to check that no secret leaked). */
export function logged(helper: any): string {
  const spy = helper.log() as { args: unknown[][] };
  return JSON.stringify(spy.args.map((a) => a.map((x) => (x instanceof Error ? `${x.name}: ${x.message}` : x))));
}

/** Waits until the node's latest status has `fill` (statuses are debounced), returns it. */
export async function waitStatus(helper: any, id: string, fill: string, timeoutMs = 3000): Promise<{ fill?: string; shape?: string; text?: string }> {
  return (await waitFor(() => {
    const s = lastStatus(helper, id);
    return s && s.fill === fill ? s : null;
  }, timeoutMs, 20, `${fill} status on ${id}`)) as { fill?: string; shape?: string; text?: string };
}
