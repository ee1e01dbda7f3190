import chisquare from '@stdlib/stats-base-dists-chisquare';
import { assign } from './assign';
import { BUCKETS, bucketOfPrepared, prepareSalt } from './bucket';
import { ExperimentSnapshot, VariantSnapshot } from './snapshot';

// Statistical checks over a million synthetic units. The ids are deterministic, so
// these tests are too: a failure means the hash or the layout is biased for them.
const N = 1_000_000;
const units = Array.from({ length: N }, (_, i) => `unit-${i}`);

function variant(key: string, weight: number, isControl = false): VariantSnapshot {
  return { key, weight, isControl, rolledBack: false, config: null };
}

function experiment(salt: string, variants: VariantSnapshot[], extra: Partial<ExperimentSnapshot> = {}): ExperimentSnapshot {
  return { key: salt, salt, unitType: 'user', state: 'running', phase: 1, trafficAllocation: 1, variants, forced: {}, winner: null, layer: null, ...extra };
}

function goodnessOfFitP(observed: number[], expected: number[]): number {
  let x2 = 0;
  for (let i = 0; i < observed.length; i++) x2 += (observed[i] - expected[i]) ** 2 / expected[i];
  return 1 - chisquare.cdf(x2, observed.length - 1);
}

function independenceP(table: number[][]): number {
  const rows = table.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = table[0].map((_, j) => table.reduce((a, r) => a + r[j], 0));
  const total = rows.reduce((a, b) => a + b, 0);
  let x2 = 0;
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < cols.length; j++) {
      const e = (rows[i] * cols[j]) / total;
      x2 += (table[i][j] - e) ** 2 / e;
    }
  }
  return 1 - chisquare.cdf(x2, (rows.length - 1) * (cols.length - 1));
}

describe('assignment statistics (1M units)', () => {
  it('buckets are uniform over the 10,000 buckets', () => {
    const salt = prepareSalt('uniformity');
    const counts = new Array<number>(BUCKETS).fill(0);
    for (const u of units) counts[bucketOfPrepared(salt, u)]++;
    expect(goodnessOfFitP(counts, counts.map(() => N / BUCKETS))).toBeGreaterThan(0.001);
  });

  it('the split matches the weights', () => {
    const weights = [0.5, 0.3, 0.15, 0.05];
    const e = experiment('split', weights.map((w, i) => variant(`v${i}`, w, i === 0)));
    const counts = [0, 0, 0, 0];
    for (const u of units) counts[Number(assign(e, e.key, u).variant!.slice(1))]++;
    expect(goodnessOfFitP(counts, weights.map((w) => w * N))).toBeGreaterThan(0.001);
  });

  it('the traffic allocation admits its share, split by the weights', () => {
    const e = experiment('alloc', [variant('c', 0.5, true), variant('t', 0.5)], { trafficAllocation: 0.2 });
    const counts = [0, 0, 0]; // out, c, t
    for (const u of units) {
      const a = assign(e, e.key, u);
      counts[a.inExperiment ? (a.variant === 'c' ? 1 : 2) : 0]++;
    }
    expect(goodnessOfFitP(counts, [0.8 * N, 0.1 * N, 0.1 * N])).toBeGreaterThan(0.001);
  });

  it('two experiments with different salts assign independently', () => {
    const a = experiment('salt-a', [variant('a0', 1, true), variant('a1', 1), variant('a2', 1)]);
    const b = experiment('salt-b', [variant('b0', 0.7, true), variant('b1', 0.3)]);
    const table = [
      [0, 0],
      [0, 0],
      [0, 0],
    ];
    for (const u of units) table[Number(assign(a, 'a', u).variant!.slice(1))][Number(assign(b, 'b', u).variant!.slice(1))]++;
    expect(independenceP(table)).toBeGreaterThan(0.001);
  });

  it('the allocation hash, the layer hash and the variant hash are independent', () => {
    const alloc = prepareSalt('exp-salt.alloc');
    const layer = prepareSalt('my-layer.layer');
    const vary = prepareSalt('exp-salt');
    const allocByVariant = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    const layerByVariant = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    for (const u of units) {
      const v = Math.floor(bucketOfPrepared(vary, u) / 1000);
      allocByVariant[Math.floor(bucketOfPrepared(alloc, u) / 1000)][v]++;
      layerByVariant[Math.floor(bucketOfPrepared(layer, u) / 1000)][v]++;
    }
    expect(independenceP(allocByVariant)).toBeGreaterThan(0.001);
    expect(independenceP(layerByVariant)).toBeGreaterThan(0.001);
  });
});
