/**
 * Fixed-seed simulation tests. Data are drawn as sufficient statistics where possible
 * (normal data: sum ~ N(n mu, n sigma^2) and the centred sum of squares ~ sigma^2
 * chi^2_{n-1}, independent), so thousands of experiments cost milliseconds.
 * Tolerances are binomial: a rate estimated from R runs has s.e. sqrt(p(1-p)/R); each check
 * allows 3.5 s.e. (a correct method fails it with probability ~5e-4, and the seeds are fixed).
 */
import { seededRng, Rng } from './rng';
import { welchTest, proportionTest } from './welch-test';
import { sequentialTest } from './sequential-test';
import { MomentStats, mergeMoments } from './moments';
import { clusteredQuantileSummary, quantileDifference, quantileSummary, valuesSource } from './quantile';

function normalMoments(rng: Rng, n: number, mu: number, sigma: number): MomentStats {
  const sum = rng.normal(n * mu, sigma * Math.sqrt(n));
  const centred = rng.gamma((n - 1) / 2, 1 / (2 * sigma * sigma));
  return { n, sum, sumSquares: centred + (sum * sum) / n };
}

const band = (p: number, runs: number): [number, number] => {
  const se = Math.sqrt((p * (1 - p)) / runs);
  return [p - 3.5 * se, p + 3.5 * se];
};

describe('A/A false-positive rate of the fixed-horizon tests (2,000 experiments)', () => {
  const runs = 2000;
  const [lo, hi] = band(0.05, runs);

  it('Welch t-test on means rejects at ~alpha', () => {
    const rng = seededRng(101);
    let rejections = 0;
    for (let r = 0; r < runs; r++) {
      const res = welchTest(normalMoments(rng, 500, 10, 4), normalMoments(rng, 500, 10, 4), { difference: 'relative' });
      if (res.pValue < 0.05) rejections++;
    }
    const rate = rejections / runs;
    expect(rate).toBeGreaterThanOrEqual(lo);
    expect(rate).toBeLessThanOrEqual(hi);
  });

  it('two-proportion z-test rejects at ~alpha', () => {
    const rng = seededRng(202);
    let rejections = 0;
    for (let r = 0; r < runs; r++) {
      const res = proportionTest({ n: 2000, successes: rng.binomial(2000, 0.7) }, { n: 2000, successes: rng.binomial(2000, 0.7) }, { difference: 'absolute' });
      if (res.pValue < 0.05) rejections++;
    }
    const rate = rejections / runs;
    expect(rate).toBeGreaterThanOrEqual(lo);
    expect(rate).toBeLessThanOrEqual(hi);
  });
});

describe('peeking after every batch (2,000 A/A experiments x 20 looks)', () => {
  it('the confidence sequence keeps the false-positive rate <= alpha; a naive repeated t-test does not', () => {
    const rng = seededRng(303);
    const runs = 2000;
    const looks = 20;
    const batch = 100;
    let sequentialFalse = 0;
    let naiveFalse = 0;
    for (let r = 0; r < runs; r++) {
      let c: MomentStats = { n: 0, sum: 0, sumSquares: 0 };
      let t: MomentStats = { n: 0, sum: 0, sumSquares: 0 };
      let seqRejected = false;
      let naiveRejected = false;
      for (let l = 0; l < looks; l++) {
        c = mergeMoments(c, normalMoments(rng, batch, 5, 2));
        t = mergeMoments(t, normalMoments(rng, batch, 5, 2));
        if (!seqRejected && sequentialTest(c, t, { tuning: 2 * batch * looks }).pValue < 0.05) seqRejected = true;
        if (!naiveRejected && welchTest(c, t).pValue < 0.05) naiveRejected = true;
      }
      if (seqRejected) sequentialFalse++;
      if (naiveRejected) naiveFalse++;
    }
    const seqRate = sequentialFalse / runs;
    const naiveRate = naiveFalse / runs;
    expect(seqRate).toBeLessThanOrEqual(0.05);
    // 20 looks at a fixed-horizon test: the false-positive rate is far above alpha (~0.2)
    expect(naiveRate).toBeGreaterThan(band(0.05, runs)[1] + 0.05);
  });
});

describe('coverage of 95% intervals for the relative lift (2,000 experiments, true lift +5%)', () => {
  it('covers the true lift about 95% of the time', () => {
    const rng = seededRng(404);
    const runs = 2000;
    let covered = 0;
    for (let r = 0; r < runs; r++) {
      const res = welchTest(normalMoments(rng, 400, 10, 5), normalMoments(rng, 400, 10.5, 5), { difference: 'relative' });
      if (res.ci[0] <= 0.05 && 0.05 <= res.ci[1]) covered++;
    }
    const [lo, hi] = band(0.95, runs);
    expect(covered / runs).toBeGreaterThanOrEqual(lo);
    expect(covered / runs).toBeLessThanOrEqual(hi);
  });
});

describe('p90 difference for user-randomised data with several requests per user (600 A/A experiments)', () => {
  /** Users with a shared latency level (strong within-user correlation) and 1..9 requests. */
  function users(rng: Rng, count: number): number[][] {
    const out: number[][] = [];
    for (let u = 0; u < count; u++) {
      const level = Math.exp(rng.normal(6, 0.8));
      const k = 1 + Math.floor(rng.uniform() * 9);
      const reqs: number[] = [];
      for (let j = 0; j < k; j++) reqs.push(level * Math.exp(rng.normal(0, 0.3)));
      out.push(reqs);
    }
    return out;
  }

  it('the clustered interval keeps its coverage; the iid interval does not', () => {
    const rng = seededRng(505);
    const runs = 600;
    let clustered = 0;
    let naive = 0;
    for (let r = 0; r < runs; r++) {
      const a = users(rng, 200);
      const b = users(rng, 200);
      const d = quantileDifference(clusteredQuantileSummary(a, 0.9), clusteredQuantileSummary(b, 0.9));
      if (d.ci[0] <= 0 && 0 <= d.ci[1]) clustered++;
      const flat = (x: number[][]) => quantileSummary(valuesSource(x.flat()), 0.9);
      const n = quantileDifference(flat(a), flat(b));
      if (n.ci[0] <= 0 && 0 <= n.ci[1]) naive++;
    }
    const [lo, hi] = band(0.95, runs);
    expect(clustered / runs).toBeGreaterThanOrEqual(lo);
    expect(clustered / runs).toBeLessThanOrEqual(hi);
    expect(naive / runs).toBeLessThan(lo);
  });
});
