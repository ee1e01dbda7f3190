import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { bayesGaussian, betaBinomial, BayesResult } from './bayes';
import { meanEffect } from './welch-test';
import { ratioEffect } from './ratio-test';
import { proportionSummary } from './moments';
import { effectFromSummaries } from './effect';

interface GbBayes {
  expected_lift?: number;
  ci: number[];
  posterior_sd: number;
  chance_to_win: number;
  risk: number[];
}

function expectGb(r: BayesResult, e: GbBayes, rel = 1e-6): void {
  if (e.expected_lift !== undefined) expectClose(r.mean, e.expected_lift, rel);
  expectClose(r.ci[0], e.ci[0], rel);
  expectClose(r.ci[1], e.ci[1], rel);
  expectClose(r.sd, e.posterior_sd, rel);
  expectClose(r.chanceToBeatControl, e.chance_to_win, rel);
  expectClose(r.risk[0], e.risk[0], rel, 1e-300);
  expectClose(r.risk[1], e.risk[1], rel, 1e-300);
}

describe('bayesGaussian against GrowthBook', () => {
  it('binomial, flat prior (bayesian_binomial_flat_prior)', () => {
    const c = growthbookCase('bayesian_binomial_flat_prior');
    const effect = effectFromSummaries(
      proportionSummary({ n: c.inputs.control.n, successes: c.inputs.control.sum }),
      proportionSummary({ n: c.inputs.treatment.n, successes: c.inputs.treatment.sum }),
    );
    expectGb(bayesGaussian(effect), c.subcases[0].expected_full_precision);
  });

  it('mean metric, flat and proper prior (bayesian_mean_flat_and_proper_prior)', () => {
    const c = growthbookCase('bayesian_mean_flat_and_proper_prior');
    const arm = (a: { n: number; sum: number; sum_squares: number }) => ({ n: a.n, sum: a.sum, sumSquares: a.sum_squares });
    const effect = meanEffect(arm(c.inputs.control), arm(c.inputs.treatment));
    for (const sub of c.subcases) {
      const prior = typeof sub.config.prior === 'object' ? { mean: sub.config.prior.mean, variance: sub.config.prior.variance } : undefined;
      expectGb(bayesGaussian(effect, { prior }), sub.expected_full_precision);
    }
  });

  it('ratio metric, flat prior (ratio_metric_delta_method)', () => {
    const c = growthbookCase('ratio_metric_delta_method');
    const arm = (a: { n: number; numerator: { sum: number; sum_squares: number }; denominator: { sum: number; sum_squares: number }; m_d_sum_of_products: number }) => ({
      n: a.n,
      sumNum: a.numerator.sum,
      sumNumSquares: a.numerator.sum_squares,
      sumDen: a.denominator.sum,
      sumDenSquares: a.denominator.sum_squares,
      sumNumDen: a.m_d_sum_of_products,
    });
    expectGb(bayesGaussian(ratioEffect(arm(c.inputs.control), arm(c.inputs.treatment))), c.subcases[1].expected_full_precision);
  });

  it('inverse metric flips chance to win and swaps the risks (count_metric_pipeline_dimension_one)', () => {
    const c = growthbookCase('count_metric_pipeline_dimension_one');
    const arm = (a: { n: number; sum: number; sum_squares: number }) => ({ n: a.n, sum: a.sum, sumSquares: a.sum_squares });
    const effect = meanEffect(arm(c.inputs.control), arm(c.inputs.treatment));
    expectGb(bayesGaussian(effect), c.subcases[1].expected_full_precision);
    expectGb(bayesGaussian(effect, { inverse: true }), c.subcases[2].expected_full_precision);
  });
});

describe('Bayesian against scipy (bayesian_beta_binomial_and_normal_posterior)', () => {
  const c = scipyCase('bayesian_beta_binomial_and_normal_posterior');
  const tol = c.tolerance.abs;

  it('beta-binomial chance to beat control and expected losses by quadrature', () => {
    const i = c.inputs.beta_binomial;
    const e = c.expected.beta_binomial;
    const r = betaBinomial(i.control, i.treatment, { prior: i.prior });
    expect(r.posteriorControl).toEqual(e.posterior_control);
    expect(r.posteriorTreatment).toEqual(e.posterior_treatment);
    expectClose(r.chanceToBeatControl, e.p_treatment_beats_control, 0, tol);
    expectClose(r.expectedLossShip, e.expected_loss_ship_treatment, 0, tol);
    expectClose(r.expectedLossKeep, e.expected_loss_keep_control, 0, tol);
  });

  it('normal-normal update with a proper prior (sd 0.05 given as variance 0.0025)', () => {
    const i = c.inputs.normal;
    const e = c.expected.normal;
    const r = bayesGaussian({ estimate: i.observed_lift, se: i.observed_se }, { prior: { mean: i.prior_mean, variance: i.prior_sd ** 2 } });
    expectClose(r.mean, e.posterior_mean, 0, tol);
    expectClose(r.sd, e.posterior_sd, 0, tol);
    expectClose(r.chanceToBeatControl, e.chance_to_beat, 0, tol);
    expectClose(r.expectedLoss, e.expected_loss_ship, 0, tol);
    expectClose(r.ci[0], e.credible95[0], 0, tol);
    expectClose(r.ci[1], e.credible95[1], 0, tol);
  });
});
