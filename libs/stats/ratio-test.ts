/**
 * Ratio metrics (cost per success, successes per request when units are users):
 * R = sum(y)/sum(z) over units, per-unit variance by the delta method.
 */
import { Effect, TestOptions, TestResult, effectFromSummaries, fixedHorizonResult } from './effect';
import { ArmSummary, RatioStats, covarianceOf, varianceOf, varianceOfRatio } from './moments';
import { StatsInputError } from './stats-input.error';

/**
 * Arm summary of a ratio metric: mean = sum(y)/sum(z), per-unit variance
 * var_y/mu_z^2 - 2 cov_yz mu_y/mu_z^3 + var_z mu_y^2/mu_z^4 (Deng et al. 2018, GrowthBook
 * RatioStatistic), all moments with n - 1 denominators. Variance of R is variance/n.
 */
export function ratioSummary(s: RatioStats): ArmSummary {
  if (s.sumDen === 0) throw new StatsInputError('ratio metric: denominator sums to 0');
  const muY = s.sumNum / s.n;
  const muZ = s.sumDen / s.n;
  const varY = varianceOf({ n: s.n, sum: s.sumNum, sumSquares: s.sumNumSquares });
  const varZ = varianceOf({ n: s.n, sum: s.sumDen, sumSquares: s.sumDenSquares });
  const cov = covarianceOf(s.n, s.sumNum, s.sumDen, s.sumNumDen);
  return { n: s.n, mean: s.sumNum / s.sumDen, variance: varianceOfRatio(muY, varY, muZ, varZ, cov) };
}

export function ratioEffect(control: RatioStats, treatment: RatioStats, difference: TestOptions['difference'] = 'relative'): Effect {
  return effectFromSummaries(ratioSummary(control), ratioSummary(treatment), difference);
}

/** t-test (default; GrowthBook) or z-test (distribution: 'normal') on a ratio metric. */
export function ratioTest(control: RatioStats, treatment: RatioStats, options: TestOptions = {}): TestResult {
  return fixedHorizonResult(ratioEffect(control, treatment, options.difference), options);
}
