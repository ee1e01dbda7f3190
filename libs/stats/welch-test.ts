/**
 * Welch t-test on means and the two-proportion z-test, with absolute or relative lift.
 */
import { normalCdf, normalQuantile } from './distributions';
import { Effect, TestOptions, TestResult, effectFromSummaries, fixedHorizonResult, toSummary } from './effect';
import { ArmSummary, MomentStats } from './moments';
import { StatsInputError } from './stats-input.error';

/** Effect of a mean metric from sufficient statistics (or ready arm summaries). */
export function meanEffect(control: MomentStats | ArmSummary, treatment: MomentStats | ArmSummary, difference: TestOptions['difference'] = 'relative'): Effect {
  return effectFromSummaries(toSummary(control), toSummary(treatment), difference);
}

/**
 * Welch t-test (unequal variances, Welch-Satterthwaite dof). Defaults: alpha 0.05,
 * relative lift, two-sided, t distribution. Same as GrowthBook TwoSidedTTest /
 * OneSidedTreatment{Greater,Lesser}TTest and scipy ttest_ind_from_stats(equal_var=False).
 */
export function welchTest(control: MomentStats | ArmSummary, treatment: MomentStats | ArmSummary, options: TestOptions = {}): TestResult {
  return fixedHorizonResult(meanEffect(control, treatment, options.difference), options);
}

export interface ProportionArm {
  n: number;
  successes: number;
}

export interface ProportionTestOptions extends TestOptions {
  /**
   * Standard error of the test statistic: 'unpooled' (default; Statsig/Spotify, and the
   * same s.e. as the interval) or 'pooled' (classical, pbar(1 - pbar)(1/n_c + 1/n_t),
   * absolute difference only). The interval always uses the unpooled s.e.
   */
  pooling?: 'unpooled' | 'pooled';
}

export interface ProportionTestResult extends TestResult {
  controlRate: number;
  treatmentRate: number;
}

/**
 * Two-proportion z-test. Per-arm variance p(1 - p); normal reference distribution
 * (override with distribution: 't' to get GrowthBook's t-test on proportions).
 */
export function proportionTest(control: ProportionArm, treatment: ProportionArm, options: ProportionTestOptions = {}): ProportionTestResult {
  const c = proportionArmSummary(control);
  const t = proportionArmSummary(treatment);
  const opts: TestOptions = { distribution: 'normal', ...options };
  const effect = effectFromSummaries(c, t, opts.difference);
  const result = fixedHorizonResult(effect, opts);
  if (options.pooling === 'pooled') {
    if (effect.difference !== 'absolute') throw new StatsInputError('pooled standard errors are defined for the absolute difference only');
    const pbar = (control.successes + treatment.successes) / (control.n + treatment.n);
    const se0 = Math.sqrt(pbar * (1 - pbar) * (1 / control.n + 1 / treatment.n));
    const statistic = (effect.estimate - (opts.nullValue ?? 0)) / se0;
    const alt = opts.alternative ?? 'two-sided';
    const pValue = alt === 'two-sided' ? 2 * normalCdf(-Math.abs(statistic)) : alt === 'greater' ? normalCdf(-statistic) : normalCdf(statistic);
    return { ...result, statistic, pValue, controlRate: c.mean, treatmentRate: t.mean };
  }
  return { ...result, controlRate: c.mean, treatmentRate: t.mean };
}

function proportionArmSummary(arm: ProportionArm): ArmSummary {
  const p = arm.n === 0 ? 0 : arm.successes / arm.n;
  return { n: arm.n, mean: p, variance: p * (1 - p) };
}

/**
 * Fieller interval for the relative lift m_t/m_c - 1 of two independent arms
 * (exact for normal means, no delta-method linearisation):
 * g = z^2 v_c/m_c^2, R = m_t/m_c, CI = (R -+ (z/m_c) sqrt(v_t (1 - g) + R^2 v_c))/(1 - g) - 1,
 * v_x = s_x^2/n_x. Unbounded when g >= 1 (control mean not distinguishable from 0).
 */
export function fiellerInterval(control: ArmSummary, treatment: ArmSummary, alpha = 0.05): [number, number] {
  const z = normalQuantile(1 - alpha / 2);
  const vc = control.variance / control.n;
  const vt = treatment.variance / treatment.n;
  const g = (z * z * vc) / control.mean ** 2;
  if (g >= 1) return [-Infinity, Infinity];
  const r = treatment.mean / control.mean;
  const h = (z / Math.abs(control.mean)) * Math.sqrt(vt * (1 - g) + r * r * vc);
  return [(r - h) / (1 - g) - 1, (r + h) / (1 - g) - 1];
}
