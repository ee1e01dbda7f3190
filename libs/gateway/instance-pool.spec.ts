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
