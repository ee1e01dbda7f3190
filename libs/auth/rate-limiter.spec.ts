import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows bursts of `burst` tokens, then refills at `rate` per second', () => {
    const limiter = new RateLimiter(1, 3);
    expect([0, 0, 0].map(() => limiter.take('a', 1000))).toEqual([0, 0, 0]);
    expect(limiter.take('a', 1000)).toBe(1);
    expect(limiter.take('a', 2000)).toBe(0);
    limiter.refund('a');
    expect(limiter.take('a', 2000)).toBe(0);
    expect(limiter.take('a', 2000)).toBeGreaterThan(0);
  });

  it('keeps at most maxEntries buckets, evicting the least recently used', () => {
    const limiter = new RateLimiter(1, 1, 2);
    limiter.take('a', 0);
    limiter.take('b', 0);
    limiter.take('a', 0);
    limiter.take('c', 0);
    expect(limiter.size).toBe(2);
    // 'a' was used after 'b': 'b' went, and comes back with a full bucket.
    expect(limiter.take('a', 0)).toBeGreaterThan(0);
    expect(limiter.take('b', 0)).toBe(0);
  });
});
