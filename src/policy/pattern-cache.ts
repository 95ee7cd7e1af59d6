/**
 * A bounded cache of compiled patterns. Policies hold a few hundred patterns at most, but the evaluate and
 * replay APIs compile drafts too, so the cache must not grow without end: past `limit` entries the oldest
 * is dropped (a pattern still in use is simply compiled again).
 */
export class PatternCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(
    private readonly limit: number,
    private readonly compile: (pattern: string) => T,
  ) {}

  /** The compiled pattern; throws what `compile` throws (a pattern that does not compile is not kept). */
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
