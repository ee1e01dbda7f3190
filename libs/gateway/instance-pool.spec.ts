import { DEFAULT_UPSTREAM_HEALTH, type UpstreamInstance } from '../experiments/experiment.types';
import { InstancePools } from './instance-pool';

const inst = (baseUrl: string, weight = 1): UpstreamInstance => ({ baseUrl, weight, model: null, apiKeyEnv: null });
const health = { ...DEFAULT_UPSTREAM_HEALTH, failures: 2, coolDownMs: 1000, maxCoolDownMs: 3000 };
const opts = { sticky: false, panic: false };

describe('InstancePools', () => {
  let now = 0;
  const pools = new InstancePools(() => now, () => 0.99);
  const pool = InstancePools.poolOf('p', 'e', 'v');
  const pair = [inst('a'), inst('b', 2)];

  it('picks the fewest in flight per unit of weight', () => {
    const first = pools.acquire(pool, pair, health, 'u', opts)!;
    // a: 1/1 and b: 1/2 before the first call; b (weight 2) takes the first two.
    expect(first.instance.baseUrl).toBe('b');
    const second = pools.acquire(pool, pair, health, 'u', opts)!;
    expect(second.instance.baseUrl).toBe('a');
    const third = pools.acquire(pool, pair, health, 'u', opts)!;
    expect(third.instance.baseUrl).toBe('b');
    for (const lease of [first, second, third]) lease.finish(true, 10);
    expect(pools.view('p').map((v) => v.inFlight)).toEqual([0, 0]);
  });

  it('cools an instance down after failures in the window, doubles the period, then lets one trial through', () => {
    const fail = () => pools.acquire(pool, [inst('a')], health, 'u', { ...opts, exclude: new Set(['b']) })!.finish(false, null);
    fail();
    fail();
    expect(pools.view('p').find((v) => v.baseUrl === 'a')).toMatchObject({ coolDowns: 1, cooledUntil: new Date(1000).toISOString() });
    expect(pools.acquire(pool, pair, health, 'u', opts)!.instance.baseUrl).toBe('b');
    expect(pools.acquire(pool, [inst('a')], health, 'u', opts)).toBeNull();
    expect(pools.acquire(pool, [inst('a')], health, 'u', { ...opts, panic: true })).not.toBeNull();
    now = 1000;
    const trial = pools.acquire(pool, [inst('a')], health, 'u', opts)!;
    expect(trial.instance.baseUrl).toBe('a');
    // One trial at a time.
    expect(pools.acquire(pool, [inst('a')], health, 'u', opts)).toBeNull();
    trial.finish(false, null);
    expect(pools.view('p').find((v) => v.baseUrl === 'a')).toMatchObject({ coolDowns: 2, cooledUntil: new Date(3000).toISOString() });
    now = 3000;
    pools.acquire(pool, [inst('a')], health, 'u', opts)!.finish(true, 5);
    expect(pools.view('p').find((v) => v.baseUrl === 'a')).toMatchObject({ coolDowns: 0, cooledUntil: null });
  });

  it('sticky mode keeps a unit on its instance while it is usable', () => {
    const three = [inst('x'), inst('y'), inst('z')];
    const sticky = { sticky: true, panic: false };
    const home = pools.acquire(pool, three, health, 'unit-7', sticky)!;
    home.finish(true, 1);
    for (let i = 0; i < 5; i++) {
      const again = pools.acquire(pool, three, health, 'unit-7', sticky)!;
      expect(again.instance.baseUrl).toBe(home.instance.baseUrl);
    }
    const elsewhere = pools.acquire(pool, three, health, 'unit-7', { ...sticky, exclude: new Set([home.instance.baseUrl]) })!;
    expect(elsewhere.instance.baseUrl).not.toBe(home.instance.baseUrl);
  });
});

describe('InstancePools: probes and latency quantiles', () => {
  let now = 0;
  const pool = InstancePools.poolOf('p', 'e', 'v');
  const health = { ...DEFAULT_UPSTREAM_HEALTH, failures: 2, coolDownMs: 60_000, maxCoolDownMs: 60_000 };

  it('counts failed probes as failed calls and ends a cool-down on a passing one', () => {
    const observed: unknown[] = [];
    const pools = new InstancePools(() => now, () => 0.5, (...args) => observed.push(args));
    pools.probed(pool, 'a', health, false);
    expect(pools.view('p')[0]).toMatchObject({ cooledUntil: null, calls: 1, errorRate: 1 });
    pools.probed(pool, 'a', health, false);
    expect(pools.view('p')[0]).toMatchObject({ coolDowns: 1, coolDownsTotal: 1, cooledUntil: new Date(60_000).toISOString() });
    now = 1000;
    pools.probed(pool, 'a', health, true);
    expect(pools.view('p')[0]).toMatchObject({ coolDowns: 0, coolDownsTotal: 1, cooledUntil: null });
    // A cool-down past its end waits for a trial: a failing probe is that trial, and cools it down again at once.
    pools.probed(pool, 'a', health, false);
    pools.probed(pool, 'a', health, false);
    now = 62_000;
    pools.probed(pool, 'a', health, false);
    expect(pools.view('p')[0]).toMatchObject({ coolDowns: 2, coolDownsTotal: 3 });
    // Probes are not calls: nothing for the latency histogram.
    expect(observed).toEqual([]);
  });

  it('keeps the latest latencies for p50 and p95, and tells the observer of each call', () => {
    const observed: Array<[string, string, boolean, number | null]> = [];
    const pools = new InstancePools(() => now, () => 0.5, (...args) => observed.push(args));
    const instance = inst('q');
    for (let ms = 1; ms <= 200; ms++) pools.acquire(pool, [instance], health, 'u', opts)!.finish(true, ms);
    // The ring holds the last 128: 73..200.
    expect(pools.view('p')[0]).toMatchObject({ latencyP50Ms: 136, latencyP95Ms: 194 });
    expect(observed).toHaveLength(200);
    expect(observed[0]).toEqual([pool, 'q', true, 1]);
    pools.acquire(pool, [instance], health, 'u', opts)!.finish(null, 5);
    expect(observed).toHaveLength(200);
  });
});

describe('InstancePools: peak_ewma balance (docs/adr/0037)', () => {
  const pool = InstancePools.poolOf('p', 'e', 'ewma');
  const ewma = { sticky: false, panic: false, peakEwma: { tauMs: 10_000 } };
  const health = { ...DEFAULT_UPSTREAM_HEALTH, failures: 1000 };
  const three = [inst('a'), inst('b'), inst('slow')];

  /** A seeded generator (a linear congruential one): deterministic, yet not constant. */
  function seeded(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x / 0x100000000;
    };
  }

  function setup(seed = 1) {
    const clock = { now: 0 };
    const pools = new InstancePools(() => clock.now, seeded(seed));
    return { clock, pools };
  }

  /** Sequential calls, one every `stepMs`, each answered in `rtt(instance)` ms: how many went to each instance. */
  function run(pools: InstancePools, clock: { now: number }, instances: UpstreamInstance[], calls: number, stepMs: number, rtt: (baseUrl: string) => number, ok = (_: string) => true) {
    const counts: Record<string, number> = {};
    for (let i = 0; i < calls; i++) {
      const lease = pools.acquire(pool, instances, health, 'u', ewma)!;
      const url = lease.instance.baseUrl;
      counts[url] = (counts[url] ?? 0) + 1;
      clock.now += stepMs;
      lease.finish(ok(url), rtt(url), ok(url) ? rtt(url) : null);
    }
    return counts;
  }

  it('spreads calls evenly while the instances are alike, ties at random', () => {
    const { clock, pools } = setup();
    const counts = run(pools, clock, three, 300, 10, () => 20);
    for (const url of ['a', 'b', 'slow']) expect(counts[url]).toBeGreaterThan(60);
  });

  it('sends a slow instance far fewer calls than its share, then tries it again once its cost has decayed', () => {
    const { clock, pools } = setup();
    run(pools, clock, three, 60, 10, () => 20);
    // From now on `slow` answers in 200 ms (10x): one call there sets its cost to the peak at once.
    const after = run(pools, clock, three, 1000, 10, (url) => (url === 'slow' ? 200 : 20));
    expect(after.slow ?? 0).toBeLessThanOrEqual(2);
    expect((after.a ?? 0) + (after.b ?? 0)).toBeGreaterThanOrEqual(998);
    // No starvation: its cost decays toward 0 while unobserved (200 x e^(-t/10 s) < 20 after ~23 s), so it is tried again.
    const later = run(pools, clock, three, 3000, 10, (url) => (url === 'slow' ? 200 : 20));
    expect(later.slow ?? 0).toBeGreaterThanOrEqual(1);
    expect(later.slow ?? 0).toBeLessThan(30);
    // Fast again: each retry pulls its cost down (weighted by the time since its last call), and it takes its share back.
    run(pools, clock, three, 6000, 10, () => 20);
    const healed = run(pools, clock, three, 3000, 10, () => 20);
    expect(healed.slow ?? 0).toBeGreaterThan(700);
  });

  /**
   * Streams from an open loop, one every `stepMs`: each has its first token `ttft(url)` ms after
   * it starts and ends 160 ms later (the balancer hears of both). Returns the instances picked, in order.
   */
  function streams(pools: InstancePools, clock: { now: number }, calls: number, stepMs: number, ttft: (baseUrl: string) => number): string[] {
    const due: Array<{ at: number; act: () => void }> = [];
    const picked: string[] = [];
    const settle = (until: number) => {
      due.sort((x, y) => x.at - y.at);
      while (due.length > 0 && due[0].at <= until) due.shift()!.act();
    };
    for (let i = 0; i < calls; i++) {
      settle(clock.now);
      const lease = pools.acquire(pool, three, health, 'u', ewma)!;
      const url = lease.instance.baseUrl;
      picked.push(url);
      const first = ttft(url);
      due.push({ at: clock.now + first, act: () => lease.firstByte(first) });
      due.push({ at: clock.now + first + 160, act: () => lease.finish(true, first + 160, first) });
      clock.now += stepMs;
    }
    settle(Infinity);
    return picked;
  }

  it('stops sending streams to an instance as soon as a call there waits too long for its first token', () => {
    const { clock, pools } = setup();
    streams(pools, clock, 500, 20, () => 20);
    // `slow` now takes 220 ms to its first token. Observed only at a stream's end, its first
    // slow call let four more follow it there (0.45 % of these 2,000 calls in all, enough to
    // make it the p99); the wait itself raises its cost, and the first token is learnt at once.
    const picked = streams(pools, clock, 2000, 20, (url) => (url === 'slow' ? 220 : 20));
    expect(picked.slice(0, 20).filter((url) => url === 'slow').length).toBeLessThanOrEqual(1);
    // Then one call every few seconds, as its cost decays (the retry that shows it healed).
    expect(picked.filter((url) => url === 'slow').length).toBeLessThanOrEqual(6);
  });

  it('least in flight (the default) keeps sending the slow instance its share on the same calls', () => {
    const clock = { now: 0 };
    const pools = new InstancePools(() => clock.now, seeded(1));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 900; i++) {
      const lease = pools.acquire(pool, three, health, 'u', { sticky: false, panic: false })!;
      counts[lease.instance.baseUrl] = (counts[lease.instance.baseUrl] ?? 0) + 1;
      clock.now += 10;
      lease.finish(true, lease.instance.baseUrl === 'slow' ? 200 : 20);
    }
    expect(counts.slow).toBeGreaterThan(200);
  });

  it('respects weights: score = cost x (in flight + 1) / weight', () => {
    const { pools } = setup();
    const pair = [inst('light', 1), inst('heavy', 4)];
    const held = Array.from({ length: 10 }, () => pools.acquire(pool, pair, health, 'u', ewma)!);
    const heavy = held.filter((l) => l.instance.baseUrl === 'heavy').length;
    expect(heavy).toBeGreaterThanOrEqual(7);
    expect(heavy).toBeLessThanOrEqual(9);
    for (const lease of held) lease.finish(null, null);
  });

  it('gives an instance not yet observed the lowest observed cost of the pool, so it gets traffic at once', () => {
    const { clock, pools } = setup();
    run(pools, clock, [inst('a'), inst('b')], 50, 10, () => 20);
    const grown = [inst('a'), inst('b'), inst('new')];
    const held = Array.from({ length: 6 }, () => pools.acquire(pool, grown, health, 'u', ewma)!);
    expect(held.filter((l) => l.instance.baseUrl === 'new').length).toBe(2);
    for (const lease of held) lease.finish(null, null);
  });

  it('counts a failed call as a penalty: traffic moves off a failing instance before any cool-down', () => {
    const { clock, pools } = setup();
    run(pools, clock, three, 60, 10, () => 20);
    const after = run(pools, clock, three, 600, 10, () => 20, (url) => url !== 'slow');
    expect(after.slow ?? 0).toBeLessThanOrEqual(3);
  });

  it('forgets the failures\' penalty when a trial after a cool-down answers', () => {
    const { clock, pools } = setup();
    const cooling = { ...DEFAULT_UPSTREAM_HEALTH, failures: 2, coolDownMs: 1000, maxCoolDownMs: 1000 };
    const pair = [inst('a'), inst('b')];
    const go = (ok: (url: string) => boolean) => {
      const lease = pools.acquire(pool, pair, cooling, 'u', ewma)!;
      clock.now += 10;
      lease.finish(ok(lease.instance.baseUrl), 20, 20);
      return lease.instance.baseUrl;
    };
    for (let i = 0; i < 20; i++) go(() => true);
    // Two calls on b fail (a excluded, as on a failover): b is cooled down, with a penalty cost.
    for (let i = 0; i < 2; i++) pools.acquire(pool, pair, cooling, 'u', { ...ewma, exclude: new Set(['a']) })!.finish(false, 20, null);
    expect(go(() => true)).toBe('a');
    clock.now += 1000;
    // Its trial answers: b is back at a's cost, and takes about half the calls at once.
    const picks: string[] = [];
    for (let i = 0; i < 100; i++) picks.push(go(() => true));
    expect(picks.filter((url) => url === 'b').length).toBeGreaterThan(30);
  });

  it('observes the time to first byte when given, rather than the total', () => {
    const { clock, pools } = setup();
    const pair = [inst('a'), inst('b')];
    for (let i = 0; i < 200; i++) {
      const lease = pools.acquire(pool, pair, health, 'u', ewma)!;
      clock.now += 10;
      // `a` streams long answers (total 2 s) but its first token comes as fast as b's.
      lease.finish(true, lease.instance.baseUrl === 'a' ? 2000 : 50, 20);
    }
    const counts = run(pools, clock, pair, 200, 10, () => 20);
    expect(counts.a).toBeGreaterThan(50);
    expect(counts.b).toBeGreaterThan(50);
  });
});
