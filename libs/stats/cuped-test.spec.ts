import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { cupedTest, cupedTheta, cupedEffect, cupedRatioEffect, CupedStats, CupedRatioStats } from './cuped-test';
import { fixedHorizonResult } from './effect';
import { sequentialResult } from './sequential-test';
import { welchTest } from './welch-test';
import { momentsFromMeanVariance } from './moments';

type GbSum = { sum: number; sum_squares?: number };
function gbCuped(a: { n: number; post: GbSum; pre: GbSum; post_pre_sum_of_products: number }): CupedStats {
  return {
    n: a.n,
    post: { sum: a.post.sum, sumSquares: a.post.sum_squares ?? a.post.sum },
    pre: { sum: a.pre.sum, sumSquares: a.pre.sum_squares ?? a.pre.sum },
    sumPostPre: a.post_pre_sum_of_products,
  };
}

describe('CUPED against GrowthBook (cuped_mean_ra)', () => {
  const c = growthbookCase('cuped_mean_ra');
  const ctl = gbCuped(c.inputs.control);
  const trt = gbCuped(c.inputs.treatment);

  it('count metric: joint theta, relative lift against the unadjusted control mean', () => {
    const sub = c.subcases[0];
    expectClose(cupedTheta(ctl, trt), sub.derived.theta, 1e-9);
    const r = cupedTest(ctl, trt);
    const e = sub.expected_full_precision;
    expectClose(r.estimate, e.expected_lift, 1e-6);
    expectClose(r.se, e.se, 1e-6);
    expectClose(r.ci[0], e.ci[0], 1e-6);
    expectClose(r.ci[1], e.ci[1], 1e-6);
    expectClose(r.pValue, e.p_value, 1e-6);
  });

  it('binomial metric: p(1-p) variances and n-denominator covariance', () => {
    const sub = c.subcases[1];
    expectClose(cupedTheta(ctl, trt, { kind: 'proportion' }), sub.derived.theta, 1e-9);
    const r = cupedTest(ctl, trt, { kind: 'proportion' });
    const e = sub.expected_full_precision;
    expectClose(r.estimate, e.expected_lift, 1e-6);
    expectClose(r.se, e.se, 1e-6);
    expectClose(r.ci[0], e.ci[0], 1e-6);
    expectClose(r.ci[1], e.ci[1], 1e-6);
    expectClose(r.pValue, e.p_value, 1e-6);
  });

  it('theta 0 gives back the unadjusted Welch test', () => {
    const plain = welchTest({ n: ctl.n, ...ctl.post }, { n: trt.n, ...trt.post });
    const r = cupedTest(ctl, trt, { theta: 0 });
    expectClose(r.estimate, plain.estimate, 1e-12);
    expectClose(r.se, plain.se, 1e-12);
  });
});

describe('CUPED on a ratio metric (ratio_cuped_ratio_ra)', () => {
  const c = growthbookCase('ratio_cuped_ratio_ra');
  type Arm = Record<string, number | GbSum>;
  const arm = (a: Arm): CupedRatioStats => {
    const s = (k: string): GbSum => a[k] as GbSum;
    const x = (k: string): number => a[k] as number;
    const n = x('n');
    return {
      post: { n, sumNum: s('m_statistic_post').sum, sumNumSquares: s('m_statistic_post').sum_squares!, sumDen: s('d_statistic_post').sum, sumDenSquares: s('d_statistic_post').sum_squares!, sumNumDen: x('m_post_d_post_sum_of_products') },
      pre: { n, sumNum: s('m_statistic_pre').sum, sumNumSquares: s('m_statistic_pre').sum_squares!, sumDen: s('d_statistic_pre').sum, sumDenSquares: s('d_statistic_pre').sum_squares!, sumNumDen: x('m_pre_d_pre_sum_of_products') },
      sumNumPostNumPre: x('m_post_m_pre_sum_of_products'),
      sumDenPostDenPre: x('d_post_d_pre_sum_of_products'),
      sumNumPostDenPre: x('m_post_d_pre_sum_of_products'),
      sumNumPreDenPost: x('m_pre_d_post_sum_of_products'),
    };
  };
  const effect = cupedRatioEffect(arm(c.inputs.control), arm(c.inputs.treatment));

  it('fixed horizon', () => {
    const r = fixedHorizonResult(effect);
    const e = c.subcases[0].expected_full_precision;
    expectClose(r.estimate, e.expected_lift, 1e-6);
    expectClose(r.se, e.se, 1e-6);
    expectClose(r.ci[0], e.ci[0], 1e-6);
    expectClose(r.ci[1], e.ci[1], 1e-6);
    expectClose(r.pValue, e.p_value, 1e-6);
  });

  it('sequential', () => {
    const r = sequentialResult(effect, { tuning: 5000 });
    const e = c.subcases[1].expected_full_precision;
    expectClose(r.ci[0], e.ci[0], 1e-6);
    expectClose(r.ci[1], e.ci[1], 1e-6);
    expect(r.pValue).toBe(e.p_value);
  });
});

describe('CUPED against scipy (cuped_theta_and_variance_reduction)', () => {
  it('within-arm theta 0.75, halved variance, normal p-values', () => {
    const c = scipyCase('cuped_theta_and_variance_reduction');
    const i = c.inputs;
    const e = c.expected;
    const tol = c.tolerance.abs;
    const n = i.n_per_arm;
    const arm = (my: number, mx: number): CupedStats => {
      const y = momentsFromMeanVariance(n, my, i.pooled_var_y);
      const x = momentsFromMeanVariance(n, mx, i.pooled_var_x);
      return { n, post: { sum: y.sum, sumSquares: y.sumSquares }, pre: { sum: x.sum, sumSquares: x.sumSquares }, sumPostPre: (n - 1) * i.pooled_cov_xy + n * mx * my };
    };
    const ctl = arm(i.mean_y.control, i.mean_x.control);
    const trt = arm(i.mean_y.treatment, i.mean_x.treatment);
    expectClose(cupedTheta(ctl, trt, { theta: 'within' }), e.theta, 0, tol);
    const raw = cupedTest(ctl, trt, { theta: 0, difference: 'absolute', distribution: 'normal' });
    expectClose(raw.estimate, e.diff_raw, 0, tol);
    expectClose(raw.se, e.se_raw, 0, tol);
    expectClose(raw.pValue, e.p_raw, 0, tol);
    const adj = cupedTest(ctl, trt, { theta: 'within', difference: 'absolute', distribution: 'normal' });
    expectClose(adj.estimate, e.diff_cuped, 0, tol);
    expectClose(adj.se, e.se_cuped, 0, tol);
    expectClose(adj.pValue, e.p_cuped, 0, tol);
    const eff = cupedEffect(ctl, trt, { theta: 'within', difference: 'absolute' });
    expectClose((eff.se ** 2 * n) / 2, e.var_unit_adjusted, 0, tol);
    expectClose(1 - (eff.se ** 2 * n) / 2 / i.pooled_var_y, e.rho_squared, 0, tol);
  });
});
