import { pairedTFromMoments, pairedTTest } from './paired-test';
import { wilsonInterval } from './wilson';

describe('wilsonInterval', () => {
  // scipy 1.17: binomtest(k, n).proportion_ci(confidence_level=0.95, method='wilson')
  it.each([
    [8, 10, [0.4901624, 0.9433178]],
    [0, 20, [0, 0.1611251]],
    [50, 50, [0.9286524, 1]],
    [37, 120, [0.2327274, 0.39583]],
  ])('%d of %d', (k, n, expected) => {
    const [lo, hi] = wilsonInterval(k, n);
    expect(lo).toBeCloseTo(expected[0], 6);
    expect(hi).toBeCloseTo(expected[1], 6);
  });

  it('refuses impossible counts', () => {
    expect(() => wilsonInterval(3, 2)).toThrow();
    expect(() => wilsonInterval(0, 0)).toThrow();
  });
});

describe('pairedTFromMoments', () => {
  it('gives the paired t-test of the pairs from the sums of their differences', () => {
    const control = [120, 95, 130, 110, 101, 99, 140, 118];
    const candidate = [100, 90, 128, 95, 99, 80, 120, 121];
    const d = candidate.map((c, i) => c - control[i]);
    const fromPairs = pairedTTest(control, candidate);
    const fromSums = pairedTFromMoments({ n: d.length, sum: d.reduce((s, v) => s + v, 0), sumSquares: d.reduce((s, v) => s + v * v, 0) });
    expect(fromSums.meanDifference).toBeCloseTo(fromPairs.meanDifference, 10);
    expect(fromSums.pValue).toBeCloseTo(fromPairs.pValue, 10);
    expect(fromSums.ci[0]).toBeCloseTo(fromPairs.ci[0], 8);
    expect(fromSums.ci[1]).toBeCloseTo(fromPairs.ci[1], 8);
  });

  it('throws on fewer than two pairs or no variance', () => {
    expect(() => pairedTFromMoments({ n: 1, sum: 1, sumSquares: 1 })).toThrow();
    expect(() => pairedTFromMoments({ n: 3, sum: 3, sumSquares: 3 })).toThrow();
  });
});
