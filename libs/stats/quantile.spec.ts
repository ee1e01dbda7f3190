import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { quantileSummary, quantileDifference, bucketsSource, growthbookQuantileSummary, orderStatisticInterval } from './quantile';
import { LogHistogram, bucketIndex, edgeBuckets } from './log-histogram';
import { seededRng } from './rng';
import { effectFromSummaries, fixedHorizonResult } from './effect';
import { bayesGaussian } from './bayes';
import { normalQuantile } from './distributions';

describe('quantiles against the reference cases', () => {
  it('order-statistic interval for the median (scipy binomial_order_statistic_ci_median)', () => {
    const c = scipyCase('binomial_order_statistic_ci_median');
    const r = orderStatisticInterval(c.inputs.latency_ms, c.inputs.quantile, c.inputs.confidence);
    expect(r.estimate).toBe(c.expected.median);
    expect(r.lowerRank).toBe(c.expected.lower_rank_1based);
    expect(r.upperRank).toBe(c.expected.upper_rank_1based);
    expect([r.lower, r.upper]).toEqual(c.expected.ci);
    expectClose(r.coverage, c.expected.coverage, 0, c.tolerance.abs);
  });

  it('p95 difference from fixed-edge histograms, outer CI (scipy percentile_p95_from_histogram_outer_ci)', () => {
    const c = scipyCase('percentile_p95_from_histogram_outer_ci');
    const i = c.inputs;
    const e = c.expected;
    const tol = c.tolerance.abs;
    const alpha = 1 - i.confidence;
    const ctl = quantileSummary(bucketsSource(edgeBuckets(i.bucket_edges_ms, i.counts_control)), i.quantile, { alpha });
    const trt = quantileSummary(bucketsSource(edgeBuckets(i.bucket_edges_ms, i.counts_treatment)), i.quantile, { alpha });
    expect(ctl.n).toBe(e.n_control);
    expectClose(ctl.estimate, e.p95_control, 0, tol);
    expectClose(ctl.lower, e.ci95_control[0], 0, tol);
    expectClose(ctl.upper, e.ci95_control[1], 0, tol);
    expectClose(ctl.se, e.se_control, 0, tol);
    expectClose(trt.estimate, e.p95_treatment, 0, tol);
    expectClose(trt.lower, e.ci95_treatment[0], 0, tol);
    expectClose(trt.upper, e.ci95_treatment[1], 0, tol);
    expectClose(trt.se, e.se_treatment, 0, tol);
    const d = quantileDifference(ctl, trt, { alpha });
    expectClose(d.estimate, e.diff, 0, tol);
    expectClose(d.se, e.se_diff, 0, tol);
    expectClose(d.statistic, e.z, 0, tol);
    expectClose(d.pValue, e.p_value, 0, tol);
    expectClose(d.ci[0], e.ci95_diff[0], 0, tol);
    expectClose(d.ci[1], e.ci95_diff[1], 0, tol);
  });

  describe('GrowthBook quantile_p90_difference', () => {
    const c = growthbookCase('quantile_p90_difference');
    const arm = (a: { n: number; n_star: number; quantile_hat: number; quantile_lower: number; quantile_upper: number }) =>
      growthbookQuantileSummary({ n: a.n, nStar: a.n_star, quantileHat: a.quantile_hat, quantileLower: a.quantile_lower, quantileUpper: a.quantile_upper });
    const ctl = arm(c.inputs.control);
    const trt = arm(c.inputs.treatment);
    const REL = 1e-12; // "test uses exact float equality; allow ~1e-12 relative"

    it('per-unit variances', () => {
      expectClose(ctl.variance, c.derived.per_unit_var_control, REL);
      expectClose(trt.variance, c.derived.per_unit_var_treatment, REL);
    });

    it('Bayesian absolute and relative with flat and proper priors', () => {
      for (const sub of c.subcases.filter((s: { config: { engine: string } }) => s.config.engine === 'bayesian')) {
        const effect = effectFromSummaries(ctl, trt, sub.config.difference_type);
        const prior = typeof sub.config.prior === 'object' ? { mean: sub.config.prior.mean, variance: sub.config.prior.variance } : undefined;
        const r = bayesGaussian(effect, { prior });
        const e = sub.expected_full_precision;
        expectClose(r.mean, e.expected_lift, REL);
        expectClose(r.ci[0], e.ci[0], REL);
        expectClose(r.ci[1], e.ci[1], REL);
        expectClose(r.sd, e.posterior_sd, REL);
        expectClose(r.chanceToBeatControl, e.chance_to_win, REL);
        expectClose(r.risk[0], e.risk[0], 1e-9);
        expectClose(r.risk[1], e.risk[1], 1e-6, 1e-300);
      }
    });

    it('frequentist absolute (t with Welch dof)', () => {
      const sub = c.subcases.find((s: { config: { engine: string } }) => s.config.engine === 'frequentist');
      const r = fixedHorizonResult(effectFromSummaries(ctl, trt, 'absolute'));
      const e = sub.expected_full_precision;
      expectClose(r.estimate, e.expected_lift, REL);
      expectClose(r.se, e.se, REL);
      expectClose(r.ci[0], e.ci[0], 1e-9);
      expectClose(r.ci[1], e.ci[1], 1e-9);
      expect(r.pValue).toBeLessThan(1e-300 + 1e-12);
    });
  });
});

describe('quantiles of clustered values in a log histogram', () => {
  const resolution = (x: number) => 2 * 0.01 * x * 0.99; // about a bucket's width at x (relative accuracy 0.01)

  it('gives an interval at least one bucket wide when every value sits in one bucket', () => {
    const h = LogHistogram.fromValues(Array.from({ length: 2000 }, () => 79));
    const s = quantileSummary(h, 0.95);
    expect(s.lower).toBeLessThanOrEqual(79);
    expect(s.upper).toBeGreaterThanOrEqual(79);
    expect(s.upper - s.lower).toBeGreaterThanOrEqual(resolution(79));
    expect(s.se).toBeGreaterThan(0);
  });

  it('gives an interval at least one bucket wide when the values sit in two adjacent buckets', () => {
    expect(bucketIndex(80.5)).toBe(bucketIndex(79) + 1);
    const h = LogHistogram.fromValues([...Array.from({ length: 1800 }, () => 79), ...Array.from({ length: 200 }, () => 80.5)]);
    const s = quantileSummary(h, 0.95);
    expect(s.lower).toBeLessThanOrEqual(80.5);
    expect(s.upper).toBeGreaterThanOrEqual(80.5);
    expect(s.upper - s.lower).toBeGreaterThanOrEqual(resolution(80.5));
  });

  it('compares two clustered arms: a 4x difference is a clear relative lift with a finite interval', () => {
    const control = quantileSummary(LogHistogram.fromValues(Array.from({ length: 500 }, () => 80)), 0.95);
    const treatment = quantileSummary(LogHistogram.fromValues(Array.from({ length: 500 }, () => 20)), 0.95);
    const d = quantileDifference(control, treatment, { difference: 'relative' });
    expect(d.estimate).toBeCloseTo(-0.75, 2);
    expect(d.ci[1]).toBeLessThan(-0.7);
    expect(d.ci[0]).toBeGreaterThan(-0.8);
  });

  it('contains the order statistics the outer interval stands for, widened by at most one bucket each side (spread values)', () => {
    const r = seededRng(3);
    const values = Array.from({ length: 3000 }, () => Math.exp(r.normal(6, 0.5)));
    const sorted = [...values].sort((a, b) => a - b);
    const q = 0.9;
    const s = quantileSummary(LogHistogram.fromValues(values), q);
    const half = normalQuantile(0.975) * Math.sqrt((q * (1 - q)) / values.length);
    // The histogram's rank rule: x_(floor(level (n - 1))), 0-based.
    const lower = sorted[Math.floor((q - half) * (values.length - 1))];
    const upper = sorted[Math.floor((q + half) * (values.length - 1))];
    expect(s.lower).toBeLessThanOrEqual(lower);
    expect(s.upper).toBeGreaterThanOrEqual(upper);
    expect(s.lower).toBeGreaterThan(lower / 1.03);
    expect(s.upper).toBeLessThan(upper * 1.03);
  });
});
