import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { welchTest, proportionTest, fiellerInterval } from './welch-test';
import { proportionSummary, summaryFromMeanVariance, MomentStats } from './moments';
import { TestResult } from './effect';

const REL = 1e-6; // closed forms: 1e-6 relative

function gbArm(a: { n: number; sum: number; sum_squares?: number }): MomentStats {
  return { n: a.n, sum: a.sum, sumSquares: a.sum_squares ?? a.sum };
}

function expectResult(r: TestResult, e: { expected_lift: number; ci: number[]; se: number; p_value: number }, rel = REL): void {
  expectClose(r.estimate, e.expected_lift, rel);
  expectClose(r.ci[0], e.ci[0], rel);
  expectClose(r.ci[1], e.ci[1], rel);
  expectClose(r.se, e.se, rel);
  expectClose(r.pValue, e.p_value, rel);
}

describe('welchTest against GrowthBook', () => {
  it('two-sided relative and absolute (ttest_two_sided_mean)', () => {
    const c = growthbookCase('ttest_two_sided_mean');
    for (const sub of c.subcases) {
      const r = welchTest(gbArm(c.inputs.control), gbArm(c.inputs.treatment), { difference: sub.config.difference_type, alpha: sub.config.alpha });
      expectResult(r, sub.expected_full_precision);
    }
    const r = welchTest(gbArm(c.inputs.control), gbArm(c.inputs.treatment));
    expectClose(r.dof, c.derived.welch_dof, 1e-9);
  });

  it('t-test on proportions with p(1-p) variance (ttest_two_sided_binomial)', () => {
    const c = growthbookCase('ttest_two_sided_binomial');
    const ctl = proportionSummary({ n: c.inputs.control.n, successes: c.inputs.control.sum });
    const trt = proportionSummary({ n: c.inputs.treatment.n, successes: c.inputs.treatment.sum });
    for (const sub of c.subcases) {
      expectResult(welchTest(ctl, trt, { difference: sub.config.difference_type }), sub.expected_full_precision);
    }
  });

  it('one-sided greater and less (ttest_one_sided_mean)', () => {
    const c = growthbookCase('ttest_one_sided_mean');
    for (const sub of c.subcases) {
      const r = welchTest(gbArm(c.inputs.control), gbArm(c.inputs.treatment), {
        difference: sub.config.difference_type,
        alternative: sub.config.test === 'greater' ? 'greater' : 'less',
      });
      expectResult(r, sub.expected_full_precision);
    }
  });

  it('count metric pipeline, frequentist relative (count_metric_pipeline_dimension_one)', () => {
    const c = growthbookCase('count_metric_pipeline_dimension_one');
    const sub = c.subcases.find((s: { config: { engine: string } }) => s.config.engine === 'frequentist');
    expectResult(welchTest(gbArm(c.inputs.control), gbArm(c.inputs.treatment)), sub.expected_full_precision);
  });
});

describe('welchTest and proportionTest against scipy', () => {
  it('Welch from summary statistics (welch_ttest_latency_summary_stats)', () => {
    const c = scipyCase('welch_ttest_latency_summary_stats');
    const { control, treatment } = c.inputs;
    const r = welchTest(summaryFromMeanVariance(control.n, control.mean, control.var), summaryFromMeanVariance(treatment.n, treatment.mean, treatment.var), {
      difference: 'absolute',
    });
    const e = c.expected;
    expectClose(r.estimate, e.diff, 0, c.tolerance.abs);
    expectClose(r.se, e.se, 0, c.tolerance.abs);
    expectClose(r.statistic, e.t, 0, c.tolerance.abs);
    expectClose(r.dof, e.df, 0, c.tolerance.df_abs);
    expectClose(r.pValue, e.p_value, 0, c.tolerance.abs);
    expectClose(r.ci[0], e.ci95[0], 0, c.tolerance.abs);
    expectClose(r.ci[1], e.ci95[1], 0, c.tolerance.abs);
  });

  it('two-proportion z-test, pooled and unpooled (two_proportion_ztest_success_rate)', () => {
    const c = scipyCase('two_proportion_ztest_success_rate');
    const ctl = { n: c.inputs.control.n, successes: c.inputs.control.successes };
    const trt = { n: c.inputs.treatment.n, successes: c.inputs.treatment.successes };
    const e = c.expected;
    const tol = c.tolerance.abs;
    const unpooled = proportionTest(ctl, trt, { difference: 'absolute' });
    expectClose(unpooled.controlRate, e.p_control, 0, tol);
    expectClose(unpooled.treatmentRate, e.p_treatment, 0, tol);
    expectClose(unpooled.estimate, e.abs_diff, 0, tol);
    expectClose(unpooled.se, e.se_unpooled, 0, tol);
    expectClose(unpooled.statistic, e.z_unpooled, 0, tol);
    expectClose(unpooled.pValue, e.p_value_unpooled, 0, tol);
    expectClose(unpooled.ci[0], e.ci95_abs_diff_unpooled[0], 0, tol);
    expectClose(unpooled.ci[1], e.ci95_abs_diff_unpooled[1], 0, tol);
    const pooled = proportionTest(ctl, trt, { difference: 'absolute', pooling: 'pooled' });
    expectClose(pooled.statistic, e.z_pooled, 0, tol);
    expectClose(pooled.pValue, e.p_value_pooled, 0, tol);
    expect(pooled.ci).toEqual(unpooled.ci);
  });

  it('relative lift by delta method and Fieller (relative_lift_delta_method_and_fieller)', () => {
    const c = scipyCase('relative_lift_delta_method_and_fieller');
    const ctl = summaryFromMeanVariance(c.inputs.control.n, c.inputs.control.mean, c.inputs.control.var_unit);
    const trt = summaryFromMeanVariance(c.inputs.treatment.n, c.inputs.treatment.mean, c.inputs.treatment.var_unit);
    const tol = c.tolerance.abs;
    const r = welchTest(ctl, trt, { difference: 'relative', distribution: 'normal' });
    expectClose(r.estimate, c.expected.lift, 0, tol);
    expectClose(r.se, c.expected.se_lift_delta, 0, tol);
    expectClose(r.ci[0], c.expected.ci95_delta[0], 0, tol);
    expectClose(r.ci[1], c.expected.ci95_delta[1], 0, tol);
    const f = fiellerInterval(ctl, trt, c.inputs.alpha);
    expectClose(f[0], c.expected.ci95_fieller[0], 0, tol);
    expectClose(f[1], c.expected.ci95_fieller[1], 0, tol);
  });
});

describe('welchTest input checks', () => {
  it('refuses a zero control mean for relative lift and a single unit', () => {
    expect(() => welchTest({ n: 10, mean: 0, variance: 1 }, { n: 10, mean: 1, variance: 1 })).toThrow('non-zero control mean');
    expect(() => welchTest({ n: 1, mean: 1, variance: 1 }, { n: 10, mean: 1, variance: 1 })).toThrow('at least 2');
  });
});
