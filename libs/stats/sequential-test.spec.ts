import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { sequentialTest, sequentialResult, sequentialRho, msprt, msprtTau, eppoSequentialMultiplier, eppoRho, combineLooks } from './sequential-test';
import { proportionSummary, MomentStats } from './moments';
import { cupedEffect } from './cuped-test';
import { TestResult } from './effect';

function gbArm(a: { n: number; sum: number; sum_squares?: number }): MomentStats {
  return { n: a.n, sum: a.sum, sumSquares: a.sum_squares ?? a.sum };
}

function expectGb(r: TestResult, e: { expected_lift: number; ci: number[]; se: number; p_value: number }): void {
  expectClose(r.estimate, e.expected_lift, 1e-6);
  expectClose(r.se, e.se, 1e-6);
  expectClose(r.ci[0], e.ci[0], 1e-6);
  expectClose(r.ci[1], e.ci[1], 1e-6);
  expectClose(r.pValue, e.p_value, 1e-6);
}

describe('GrowthBook asymptotic confidence sequences', () => {
  it('mean metric, tuning 1000 (sequential_two_sided_mean_tuning_1000)', () => {
    const c = growthbookCase('sequential_two_sided_mean_tuning_1000');
    const sub = c.subcases[0];
    expectClose(sequentialRho(0.05, 1000), c.derived.rho, 1e-9);
    expectGb(sequentialTest(gbArm(c.inputs.control), gbArm(c.inputs.treatment), { tuning: 1000 }), sub.expected_full_precision);
  });

  it('binomial metric, default tuning, p-value far in the tail (sequential_two_sided_binomial_default_tuning)', () => {
    const c = growthbookCase('sequential_two_sided_binomial_default_tuning');
    const ctl = proportionSummary({ n: c.inputs.control.n, successes: c.inputs.control.sum });
    const trt = proportionSummary({ n: c.inputs.treatment.n, successes: c.inputs.treatment.sum });
    expectClose(sequentialRho(0.05, 5000), c.derived.rho, 1e-9);
    expectGb(sequentialTest(ctl, trt), c.subcases[0].expected_full_precision);
  });

  it('CUPED inputs (sequential_two_sided_cuped)', () => {
    const c = growthbookCase('sequential_two_sided_cuped');
    const arm = (a: { n: number; post: { sum: number; sum_squares: number }; pre: { sum: number; sum_squares: number }; post_pre_sum_of_products: number }) => ({
      n: a.n,
      post: { sum: a.post.sum, sumSquares: a.post.sum_squares },
      pre: { sum: a.pre.sum, sumSquares: a.pre.sum_squares },
      sumPostPre: a.post_pre_sum_of_products,
    });
    const effect = cupedEffect(arm(c.inputs.control), arm(c.inputs.treatment));
    expectGb(sequentialResult(effect), c.subcases[0].expected_full_precision);
  });

  it('keeps the running intersection and minimum across looks', () => {
    const a: TestResult = { estimate: 0, se: 1, ci: [-2, 1], pValue: 0.4, dof: 10, statistic: 0 };
    const b: TestResult = { estimate: 0, se: 1, ci: [-1, 3], pValue: 0.7, dof: 10, statistic: 0 };
    expect(combineLooks([a, b])).toEqual({ ci: [-1, 1], pValue: 0.4 });
  });
});

describe('mSPRT and Statsig/Eppo sequential forms (scipy msprt_always_valid_and_statsig_sequential_ci)', () => {
  const c = scipyCase('msprt_always_valid_and_statsig_sequential_ci');
  const i = c.inputs;
  const e = c.expected;
  const { abs, rel } = c.tolerance;
  const check = (a: number, b: number): void => expectClose(a, b, rel, abs);
  const v = i.var_unit_treatment / i.n_treatment + i.var_unit_control / i.n_control;
  const effect = { estimate: i.diff, se: Math.sqrt(v) };

  it('mixing variance, likelihood ratio, always-valid p and boundary', () => {
    check(v, e.V);
    const tau = msprtTau(i.alpha, i.var_unit_treatment + i.var_unit_control, i.planned_total_n_for_tau);
    check(tau, e.tau);
    const r = msprt(effect, { tau, alpha: i.alpha });
    check(r.lambda, e.Lambda);
    check(r.pValue, e.p_always_valid_single_look);
    check(r.zStar, e.zstar_msprt_two_sided_alpha);
  });

  it('Statsig convention interval and p-value', () => {
    const tau = msprtTau(i.alpha, i.var_unit_treatment + i.var_unit_control, i.planned_total_n_for_tau);
    const s = msprt(effect, { tau, alpha: i.alpha, convention: 'statsig' });
    check(s.zStar, e.zstar_statsig_alpha_over_2);
    check(s.ci[0], e.ci95_statsig[0]);
    check(s.ci[1], e.ci95_statsig[1]);
    check(s.pValue, e.p_value_statsig);
  });

  it('Eppo multiplier (eppo_sequential_ci_multiplier)', () => {
    const ep = scipyCase('eppo_sequential_ci_multiplier');
    const alpha = 1 - ep.inputs.confidence;
    const ch = (a: number, b: number): void => expectClose(a, b, ep.tolerance.rel, ep.tolerance.abs);
    ch(eppoRho(alpha, ep.inputs.N_tune), ep.expected.rho);
    ep.inputs.t_values.forEach((t: number, k: number) => ch(eppoSequentialMultiplier(t, alpha, ep.inputs.N_tune), ep.expected.B[k]));
    const ex = ep.inputs.example;
    const b = eppoSequentialMultiplier(ex.t, alpha, ep.inputs.N_tune);
    ch(b, ep.expected.example_B);
    ch(ex.lift - ex.se * b, ep.expected.example_ci[0]);
    ch(ex.lift + ex.se * b, ep.expected.example_ci[1]);
  });
});
