/**
 * Results per replica in memory, keyed by experiment and phase and tagged with the data
 * version they were computed from. A hit costs the version query only; a miss recomputes.
 * Bounded (oldest entry evicted first) so that many experiments cannot grow it without end.
 */
export class VersionedCache<T> {
  private readonly entries = new Map<string, { version: string; value: T }>();

  constructor(private readonly maxEntries = 500) {}

  get(key: string, version: string): T | undefined {
    const entry = this.entries.get(key);
    return entry && entry.version === version ? entry.value : undefined;
  }

  set(key: string, version: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, { version, value });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
