import { backoffDelay, endpoint, isRetryableStatus, parseRetryAfter } from './backoff';

describe('backoff', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 1000, () => 0.999999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffDelay(5, 100, 1000, () => 0)).toBe(0);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:03 GMT', now)).toBe(3000);
  });

  it('retries throttling and unavailability only', () => {
    expect([408, 429, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 413, 422, 500].some(isRetryableStatus)).toBe(false);
    expect(endpoint('http://h:1/base/', '/v1/x')).toBe('http://h:1/base/v1/x');
  });
});
