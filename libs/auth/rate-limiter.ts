/**
 * Token buckets by key, in memory on each replica: `rate` tokens per second with bursts up
 * to `burst` tokens (two seconds' worth by default). Keyed by API key for the per-key rate
 * limit: with N replicas behind a balancer a key may get up to N times the rate; see
 * docs/adr/0003-keys-scopes-and-rate-limits.md. Keyed by client address for lookups of
 * unknown keys (docs/adr/0017), where `maxEntries` bounds the map: the least recently
 * used bucket goes first.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst = rate * 2,
    private readonly maxEntries = Infinity,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Takes a token; returns 0 when allowed, else the seconds to wait. */
  take(key: string, now = Date.now()): number {
    const bucket = this.bucket(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
  }

  /** Gives back a token taken for something that turned out not to count. */
  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
  }

  private bucket(key: string, now: number): { tokens: number; at: number } {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxEntries) this.buckets.delete(this.buckets.keys().next().value!);
      this.buckets.set(key, (bucket = { tokens: this.burst, at: now }));
    } else if (this.maxEntries !== Infinity) {
      // Most recently used last, so that eviction takes the least recently used.
      this.buckets.delete(key);
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate);
    bucket.at = now;
    return bucket;
  }
}
