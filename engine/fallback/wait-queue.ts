/**
 * Requests waiting for capacity: ordered by priority (higher first), then by
 * arrival. Items keep their place while they try to start; iteration visits
 * them in that order.
 */
export class WaitQueue<T> {
  private readonly buckets = new Map<number, Set<T>>();
  /** priorities present, highest first */
  private order: number[] = [];
  private _size = 0;

  get size(): number {
    return this._size;
  }

  add(item: T, priority: number): boolean {
    let b = this.buckets.get(priority);
    if (!b) {
      b = new Set();
      this.buckets.set(priority, b);
      let i = 0;
      while (i < this.order.length && this.order[i] > priority) i++;
      this.order.splice(i, 0, priority);
    }
    if (b.has(item)) return false;
    b.add(item);
    this._size++;
    return true;
  }

  delete(item: T, priority: number): boolean {
    const b = this.buckets.get(priority);
    if (!b || !b.delete(item)) return false;
    this._size--;
    if (b.size === 0) {
      this.buckets.delete(priority);
      this.order = this.order.filter((p) => p !== priority);
    }
    return true;
  }

  has(item: T, priority: number): boolean {
    return this.buckets.get(priority)?.has(item) ?? false;
  }

  /** In order: highest priority first, oldest first. Safe to delete while iterating. */
  *items(): IterableIterator<T> {
    for (const p of [...this.order]) {
      const b = this.buckets.get(p);
      if (!b) continue;
      for (const item of b) yield item;
    }
  }
}
