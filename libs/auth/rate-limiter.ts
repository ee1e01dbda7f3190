/**
 * A token bucket per API key, in memory on each replica: `rate` requests per second
 * with bursts up to two seconds' worth. With N replicas behind a balancer a key may
 * get up to N times the rate; see docs/adr/0003-keys-scopes-and-rate-limits.md.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly rate: number) {}

  /** Takes a token; returns 0 when allowed, else the seconds to wait. */
  take(key: string, now = Date.now()): number {
    const capacity = this.rate * 2;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) this.buckets.set(key, (bucket = { tokens: capacity, at: now }));
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * this.rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
  }
}
