/**
 * The shared core of every two-arm frequentist test: an effect estimate with its
 * standard error and degrees of freedom, turned into an interval and a p-value.
 */
import { normalCdf, tCdf, tQuantile } from './distributions';
import { ArmSummary, MomentStats, meanSummary } from './moments';
import { StatsInputError } from './stats-input.error';

export type Difference = 'absolute' | 'relative';
export type Alternative = 'two-sided' | 'greater' | 'less';

/** An effect of treatment over control with its standard error. */
export interface Effect {
  /** treatment - control (absolute) or (treatment - control) / |control| (relative). */
  estimate: number;
  se: number;
  /** Welch-Satterthwaite degrees of freedom (Infinity for normal-theory effects). */
  dof: number;
  /** Units in both arms, the N of the sequential methods. */
  n: number;
  difference: Difference;
  /** Control mean the relative lift is taken against (unadjusted under CUPED). */
  baseline: number;
}

export interface TestOptions {
  /** Significance level; the interval has coverage 1 - alpha. Default 0.05. */
  alpha?: number;
  /** Default 'relative' (GrowthBook's default). */
  difference?: Difference;
  /** Default 'two-sided'. 'greater': H1 effect > nullValue; 'less': H1 effect < nullValue. */
  alternative?: Alternative;
  /** Reference distribution: Student t with Welch dof (default, GrowthBook) or normal (z-test). */
  distribution?: 't' | 'normal';
  /** Effect under H0, default 0. */
  nullValue?: number;
}

export interface TestResult {
  estimate: number;
  se: number;
  ci: [number, number];
  pValue: number;
  dof: number;
  /** (estimate - nullValue) / se. */
  statistic: number;
}

/** Unit-count-weighted Welch-Satterthwaite degrees of freedom from per-unit variances. */
export function welchDof(control: ArmSummary, treatment: ArmSummary): number {
  const a = treatment.variance / treatment.n;
  const b = control.variance / control.n;
  return (a + b) ** 2 / (a ** 2 / (treatment.n - 1) + b ** 2 / (control.n - 1));
}

function checkArm(arm: ArmSummary, label: string): void {
  if (!(arm.n >= 2)) throw new StatsInputError(`${label}: need at least 2 units, got ${arm.n}`);
  if (!(arm.variance > 0)) throw new StatsInputError(`${label}: variance must be positive, got ${arm.variance}`);
}

/**
 * Effect of treatment over control from two arm summaries.
 * absolute: d = m_t - m_c, var = v_t/n_t + v_c/n_c.
 * relative: d = (m_t - m_c)/|m_c|, delta method var = v_t/(n_t m_c^2) + v_c m_t^2/(n_c m_c^4)
 * (GrowthBook frequentist_variance; the same as Var(m_t/m_c) for independent arms).
 */
export function effectFromSummaries(control: ArmSummary, treatment: ArmSummary, difference: Difference = 'relative'): Effect {
  checkArm(control, 'control');
  checkArm(treatment, 'treatment');
  const mc = control.mean;
  const mt = treatment.mean;
  const dof = welchDof(control, treatment);
  const n = control.n + treatment.n;
  if (difference === 'absolute') {
    const se = Math.sqrt(treatment.variance / treatment.n + control.variance / control.n);
    return { estimate: mt - mc, se, dof, n, difference, baseline: mc };
  }
  if (mc === 0) throw new StatsInputError('relative lift needs a non-zero control mean');
  const variance = treatment.variance / (treatment.n * mc ** 2) + (control.variance * mt ** 2) / (control.n * mc ** 4);
  return { estimate: (mt - mc) / Math.abs(mc), se: Math.sqrt(variance), dof, n, difference, baseline: mc };
}

export function isMomentStats(x: MomentStats | ArmSummary): x is MomentStats {
  return (x as MomentStats).sumSquares !== undefined;
}

export function toSummary(x: MomentStats | ArmSummary): ArmSummary {
  return isMomentStats(x) ? meanSummary(x) : x;
}

/**
 * Fixed-horizon interval and p-value for an effect.
 * two-sided: p = 2 F(-|s|), CI = d -+ q_{1-alpha/2} se;
 * greater:   p = F(-s),     CI = [d - q_{1-alpha} se, +Inf);
 * less:      p = F(s),      CI = (-Inf, d + q_{1-alpha} se];
 * with s = (d - nullValue)/se and F the t (Welch dof) or normal CDF.
 */
export function fixedHorizonResult(effect: Effect, options: TestOptions = {}): TestResult {
  const alpha = options.alpha ?? 0.05;
  const alternative = options.alternative ?? 'two-sided';
  const dof = options.distribution === 'normal' ? Infinity : effect.dof;
  const nullValue = options.nullValue ?? 0;
  if (!(effect.se > 0)) throw new StatsInputError('standard error must be positive');
  const statistic = (effect.estimate - nullValue) / effect.se;
  const cdf = (x: number): number => (Number.isFinite(dof) ? tCdf(x, dof) : normalCdf(x));
  let pValue: number;
  let ci: [number, number];
  if (alternative === 'two-sided') {
    pValue = Math.min(1, 2 * cdf(-Math.abs(statistic)));
    const w = tQuantile(1 - alpha / 2, dof) * effect.se;
    ci = [effect.estimate - w, effect.estimate + w];
  } else if (alternative === 'greater') {
    pValue = cdf(-statistic);
    ci = [effect.estimate - tQuantile(1 - alpha, dof) * effect.se, Infinity];
  } else {
    pValue = cdf(statistic);
    ci = [-Infinity, effect.estimate + tQuantile(1 - alpha, dof) * effect.se];
  }
  return { estimate: effect.estimate, se: effect.se, ci, pValue, dof, statistic };
}
