import { UpstreamLimiter } from './upstream-limiter';

/** A call that stays in flight until released by the test. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('UpstreamLimiter: calls in flight per upstream base URL (docs/adr/0040)', () => {
  it('holds each base URL to its bound, first come first served, and keeps other base URLs apart', async () => {
    const limiter = new UpstreamLimiter(2);
    const started: string[] = [];
    const gates = Array.from({ length: 5 }, gate);
    const calls = gates.map((g, i) => limiter.run('http://127.0.0.1:9/v1', async () => {
      started.push(`a${i}`);
      await g.opened;
      return i;
    }));
    const other = limiter.run('http://127.0.0.1:10/v1', async () => 'b');
    await tick();
    expect(started).toEqual(['a0', 'a1']);
    expect(limiter.inFlight('http://127.0.0.1:9/v1')).toBe(2);
    await expect(other).resolves.toBe('b');
    gates[1].open();
    await tick();
    expect(started).toEqual(['a0', 'a1', 'a2']);
    gates[0].open();
    await tick();
    expect(started).toEqual(['a0', 'a1', 'a2', 'a3']);
    gates.forEach((g) => g.open());
    await expect(Promise.all(calls)).resolves.toEqual([0, 1, 2, 3, 4]);
    expect(limiter.inFlight('http://127.0.0.1:9/v1')).toBe(0);
  });

  it('treats spellings of one base URL as one upstream (case of the host, default port, trailing slash)', async () => {
    expect(UpstreamLimiter.keyOf('HTTP://Models.Example:80/v1/')).toBe(UpstreamLimiter.keyOf('http://models.example/v1'));
    expect(UpstreamLimiter.keyOf('http://models.example/v1')).not.toBe(UpstreamLimiter.keyOf('http://models.example/v2'));
    const limiter = new UpstreamLimiter(1);
    const g = gate();
    const first = limiter.run('http://models.example/v1', () => g.opened);
    let second = false;
    const next = limiter.run('HTTP://MODELS.EXAMPLE:80/v1/', async () => (second = true));
    await tick();
    expect(second).toBe(false);
    g.open();
    await Promise.all([first, next]);
    expect(second).toBe(true);
  });

  it('releases the permit when the call throws, and a waiter whose run stops leaves the queue', async () => {
    const limiter = new UpstreamLimiter(1);
    await expect(limiter.run('http://u/v1', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(limiter.inFlight('http://u/v1')).toBe(0);
    const g = gate();
    const holder = limiter.run('http://u/v1', () => g.opened);
    const stop = new AbortController();
    let ran = false;
    const waiter = limiter.run('http://u/v1', async () => (ran = true), stop.signal);
    stop.abort(new Error('run cancelled'));
    await expect(waiter).rejects.toThrow('run cancelled');
    g.open();
    await holder;
    expect(ran).toBe(false);
    expect(limiter.inFlight('http://u/v1')).toBe(0);
    await expect(limiter.run('http://u/v1', async () => 1, stop.signal)).rejects.toThrow('run cancelled');
  });

  it('refuses a bound below 1', () => {
    expect(() => new UpstreamLimiter(0)).toThrow(RangeError);
    expect(() => new UpstreamLimiter(1.5)).toThrow(RangeError);
  });
});
