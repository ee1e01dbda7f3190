import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { ratioTest, ratioSummary } from './ratio-test';
import { RatioStats, momentsFromMeanVariance } from './moments';

function gbRatio(a: {
  n: number;
  numerator: { sum: number; sum_squares: number };
  denominator: { sum: number; sum_squares: number };
  m_d_sum_of_products: number;
}): RatioStats {
  return {
    n: a.n,
    sumNum: a.numerator.sum,
    sumNumSquares: a.numerator.sum_squares,
    sumDen: a.denominator.sum,
    sumDenSquares: a.denominator.sum_squares,
    sumNumDen: a.m_d_sum_of_products,
  };
}

/** Ratio sums rebuilt from means, (n-1) variances and covariance. */
function ratioFromMoments(n: number, my: number, mz: number, vy: number, vz: number, cov: number): RatioStats {
  const y = momentsFromMeanVariance(n, my, vy);
  const z = momentsFromMeanVariance(n, mz, vz);
  return { n, sumNum: y.sum, sumNumSquares: y.sumSquares, sumDen: z.sum, sumDenSquares: z.sumSquares, sumNumDen: (n - 1) * cov + n * my * mz };
}

describe('ratioTest', () => {
  it('reproduces GrowthBook ratio_metric_delta_method (frequentist)', () => {
    const c = growthbookCase('ratio_metric_delta_method');
    const ctl = gbRatio(c.inputs.control);
    const trt = gbRatio(c.inputs.treatment);
    expectClose(ratioSummary(ctl).variance, c.derived.per_unit_var_control, 1e-9);
    expectClose(ratioSummary(trt).variance, c.derived.per_unit_var_treatment, 1e-9);
    const e = c.subcases[0].expected_full_precision;
    const r = ratioTest(ctl, trt);
    expectClose(r.estimate, e.expected_lift, 1e-6);
    expectClose(r.se, e.se, 1e-6);
    expectClose(r.ci[0], e.ci[0], 1e-6);
    expectClose(r.ci[1], e.ci[1], 1e-6);
    expectClose(r.pValue, e.p_value, 1e-6);
  });

  it('reproduces scipy cost per success (z-test, absolute and relative)', () => {
    const c = scipyCase('ratio_metric_cost_per_success_delta_method');
    const arm = (a: { n: number; mean_cost: number; mean_succ: number; var_cost: number; var_succ: number; cov: number }): RatioStats =>
      ratioFromMoments(a.n, a.mean_cost, a.mean_succ, a.var_cost, a.var_succ, a.cov);
    const ctl = arm(c.inputs.arms.control);
    const trt = arm(c.inputs.arms.treatment);
    const e = c.expected;
    const { abs, rel } = c.tolerance;
    const check = (a: number, b: number): void => expectClose(a, b, rel, abs);
    const sc = ratioSummary(ctl);
    const st = ratioSummary(trt);
    check(sc.mean, e.cost_per_success_control);
    check(st.mean, e.cost_per_success_treatment);
    check(Math.sqrt(sc.variance / sc.n), e.se_control);
    check(Math.sqrt(st.variance / st.n), e.se_treatment);
    const a = ratioTest(ctl, trt, { difference: 'absolute', distribution: 'normal' });
    check(a.estimate, e.abs_diff);
    check(a.se, e.se_abs_diff);
    check(a.statistic, e.z);
    check(a.pValue, e.p_value);
    check(a.ci[0], e.ci95_abs_diff[0]);
    check(a.ci[1], e.ci95_abs_diff[1]);
    const r = ratioTest(ctl, trt, { difference: 'relative', distribution: 'normal' });
    check(r.estimate, e.rel_diff);
    check(r.ci[0], e.ci95_rel_diff[0]);
    check(r.ci[1], e.ci95_rel_diff[1]);
  });

  it('refuses a denominator that sums to zero', () => {
    expect(() => ratioSummary({ n: 3, sumNum: 1, sumNumSquares: 1, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 })).toThrow('denominator');
  });
});
