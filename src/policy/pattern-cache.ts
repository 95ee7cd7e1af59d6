/**
 * A bounded cache keyed by string: compiled patterns, and the answers of one pattern. Policies hold a few
 * hundred patterns at most, but PUT, replay and rollback compile drafts too, so the cache must not grow
 * without end: past `limit` entries the oldest is dropped (one still in use is simply computed again).
 */
export class PatternCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(
    private readonly limit: number,
    private readonly compile: (pattern: string) => T,
  ) {}

  /** The cached value, computed on a miss; throws what `compile` throws (and then keeps nothing). */
  get(pattern: string): T {
    let value = this.entries.get(pattern);
    if (value === undefined) {
      value = this.compile(pattern);
      if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(pattern, value);
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
