/**
 * Smooth weighted round robin (the nginx algorithm): on each pick every member's current weight
 * grows by its weight, the largest wins and loses the total. Deterministic, and any window of
 * `sum(weights)` picks gives each member exactly its weight, interleaved rather than in bursts.
 * State is kept per group (the set of candidates a request chooses from).
 */

export class WrrState {
  private readonly groups = new Map<string, Map<string, number>>();
  private readonly maxGroups: number;

  constructor(maxGroups = 1000) {
    this.maxGroups = maxGroups;
  }

  /**
   * One pick among `keys` with `weights` (same length; members with weight <= 0 never win).
   * Only members with `eligible[i] !== false` can win; ineligible ones (saturated, demoted) keep
   * accumulating credit, bounded to one round (± the total weight), so they get their share back
   * when they return without a burst, and a periodic saturation pattern cannot skew the others.
   * Returns the index of the winner, or -1 when no eligible member has a positive weight.
   * `current` (optional, same length) receives each member's current weight after the pick.
   */
  pick(group: string, keys: readonly string[], weights: readonly number[], eligible?: readonly boolean[], current?: number[]): number {
    let cw = this.groups.get(group);
    if (!cw) {
      if (this.groups.size >= this.maxGroups) this.groups.delete(this.groups.keys().next().value as string);
      cw = new Map();
      this.groups.set(group, cw);
    }
    let total = 0;
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < keys.length; i++) {
      const w = weights[i];
      if (!(w > 0)) continue;
      const v = (cw.get(keys[i]) ?? 0) + w;
      cw.set(keys[i], v);
      total += w;
      if (v > bestValue && (!eligible || eligible[i] !== false)) {
        bestValue = v;
        best = i;
      }
    }
    if (best >= 0) cw.set(keys[best], bestValue - total);
    for (let i = 0; i < keys.length; i++) {
      if (!(weights[i] > 0)) continue;
      const v = cw.get(keys[i])!;
      if (v > total) cw.set(keys[i], total);
      else if (v < -total) cw.set(keys[i], -total);
    }
    if (current) for (let i = 0; i < keys.length; i++) current[i] = cw.get(keys[i]) ?? 0;
    return best;
  }

  clear(): void {
    this.groups.clear();
  }
}
