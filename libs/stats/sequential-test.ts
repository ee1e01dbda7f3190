/**
 * Always-valid (anytime) inference, so that dashboards and guardrail monitors may
 * look after every batch without inflating the false-positive rate.
 *
 * Default: GrowthBook's asymptotic confidence sequence (Waudby-Smith et al. 2023,
 * "Time-uniform central limit theory and asymptotic confidence sequences", eq. 9),
 * two-sided, tuned by N* (the total sample size where the sequence is tightest).
 * Also: the normal-mixture SPRT (mSPRT; Johari et al. 2017, with Statsig's variant)
 * and Eppo's normal-mixture boundary multiplier (Howard et al. 2021, eq. 14).
 *
 * Interval and p-value are valid at every look. Across looks, keep the running
 * intersection of intervals and the running minimum of p-values (`combineLooks`).
 */
import { normalCdf, normalQuantile } from './distributions';
import { Effect, TestOptions, TestResult, toSummary } from './effect';
import { ArmSummary, MomentStats } from './moments';
import { StatsInputError } from './stats-input.error';
import { meanEffect } from './welch-test';

export interface SequentialOptions {
  alpha?: number;
  /** N*: total units (both arms) where the sequence is tightest. Default 5000 (GrowthBook). */
  tuning?: number;
}

/** rho = sqrt((-2 ln a + ln(-2 ln a + 1)) / N*) (Waudby-Smith et al. 2023, two-sided). */
export function sequentialRho(alpha: number, tuning: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError('alpha must be in (0, 1)');
  if (!(tuning > 0)) throw new StatsInputError('sequential tuning parameter must be positive');
  const l = -2 * Math.log(alpha);
  return Math.sqrt((l + Math.log(l + 1)) / tuning);
}

/**
 * Ratio of the confidence-sequence half-width to the standard error at N total units:
 * sqrt(N) * sqrt(2 (N rho^2 + 1) ln(sqrt(N rho^2 + 1)/a) / (N rho)^2).
 * (half-width = sqrt(s2) * sqrt(2(N rho^2+1) ln(sqrt(N rho^2+1)/a)/(N rho)^2), s2 = se^2 N.)
 */
export function sequentialMultiplier(n: number, alpha = 0.05, tuning = 5000): number {
  const rho = sequentialRho(alpha, tuning);
  const a = n * rho * rho + 1;
  return Math.sqrt(n) * Math.sqrt((2 * a * Math.log(Math.sqrt(a) / alpha)) / (n * rho) ** 2);
}

/**
 * Always-valid two-sided interval and p-value for an effect (GrowthBook
 * SequentialTwoSidedTTest). p = min(1, 1/E), E = exp(rho^2 Z2 / (2(N rho^2 + 1))) /
 * sqrt(N rho^2 + 1), Z2 = estimate^2 N / se^2 (computed in log space).
 */
export function sequentialResult(effect: Effect, options: SequentialOptions = {}): TestResult {
  const alpha = options.alpha ?? 0.05;
  const tuning = options.tuning ?? 5000;
  if (!(effect.se > 0)) throw new StatsInputError('standard error must be positive');
  const n = effect.n;
  const rho = sequentialRho(alpha, tuning);
  const half = effect.se * sequentialMultiplier(n, alpha, tuning);
  const a = n * rho * rho + 1;
  const z2 = (effect.estimate ** 2 * n) / effect.se ** 2;
  const logE = (rho * rho * z2) / (2 * a) - 0.5 * Math.log(a);
  const pValue = Math.min(1, Math.exp(-logE));
  return {
    estimate: effect.estimate,
    se: effect.se,
    ci: [effect.estimate - half, effect.estimate + half],
    pValue,
    dof: effect.dof,
    statistic: effect.estimate / effect.se,
  };
}

/** Always-valid test on means, same inputs as `welchTest` (two-sided only). */
export function sequentialTest(
  control: MomentStats | ArmSummary,
  treatment: MomentStats | ArmSummary,
  options: SequentialOptions & Pick<TestOptions, 'difference'> = {},
): TestResult {
  return sequentialResult(meanEffect(toSummary(control), toSummary(treatment), options.difference), options);
}

/** Running intersection of always-valid intervals and running minimum of p-values. */
export function combineLooks(looks: readonly TestResult[]): { ci: [number, number]; pValue: number } {
  let lo = -Infinity;
  let hi = Infinity;
  let p = 1;
  for (const l of looks) {
    lo = Math.max(lo, l.ci[0]);
    hi = Math.min(hi, l.ci[1]);
    p = Math.min(p, l.pValue);
  }
  return { ci: [lo, hi], pValue: p };
}

export interface MsprtOptions {
  alpha?: number;
  /** Mixing variance tau of the N(0, tau) prior on the effect (see `msprtTau`). */
  tau: number;
  /**
   * 'msprt' (default): reject when Lambda >= 1/alpha; interval inverts that test.
   * 'statsig': Statsig's published variant, which plugs alpha/2 into the boundary and
   * reports p = 2 Phi(-|z| z_{1-alpha/2} / z*).
   */
  convention?: 'msprt' | 'statsig';
}

export interface MsprtResult {
  estimate: number;
  /** V: variance of the estimate (se^2). */
  variance: number;
  /** Mixture likelihood ratio Lambda = sqrt(V/(V+tau)) exp(tau d^2 / (2 V (V+tau))). */
  lambda: number;
  /** Boundary on |d|/sqrt(V): sqrt((V+tau)/tau (2 ln(1/a) - ln(V/(V+tau)))). */
  zStar: number;
  ci: [number, number];
  /** Single-look always-valid p-value; across looks take the running minimum. */
  pValue: number;
}

/**
 * Mixing variance Statsig uses: tau = z_{1-alpha/2}^2 (s_t^2 + s_c^2) / N, where s^2 are
 * per-unit variances and N the planned (or current) total sample size.
 */
export function msprtTau(alpha: number, varianceSum: number, totalN: number): number {
  return (normalQuantile(1 - alpha / 2) ** 2 * varianceSum) / totalN;
}

/** Normal-mixture SPRT on a difference with standard error se (Johari et al. 2017). */
export function msprt(effect: Pick<Effect, 'estimate' | 'se'>, options: MsprtOptions): MsprtResult {
  const alpha = options.alpha ?? 0.05;
  const v = effect.se ** 2;
  const tau = options.tau;
  if (!(v > 0) || !(tau > 0)) throw new StatsInputError('mSPRT needs positive variance and tau');
  const d = effect.estimate;
  const logLambda = 0.5 * Math.log(v / (v + tau)) + (tau * d * d) / (2 * v * (v + tau));
  const lambda = Math.exp(logLambda);
  const a = options.convention === 'statsig' ? alpha / 2 : alpha;
  const zStar = Math.sqrt(((v + tau) / tau) * (2 * Math.log(1 / a) - Math.log(v / (v + tau))));
  const half = zStar * Math.sqrt(v);
  let pValue: number;
  if (options.convention === 'statsig') {
    pValue = 2 * normalCdf((-Math.abs(d / effect.se) * normalQuantile(1 - alpha / 2)) / zStar);
  } else {
    pValue = Math.min(1, Math.exp(-logLambda));
  }
  return { estimate: d, variance: v, lambda, zStar, ci: [d - half, d + half], pValue };
}

/**
 * Eppo's sequential multiplier B(t) = sqrt((t + rho) ln((t + rho)/(rho a^2)) / t),
 * rho = N_tune / (ln ln(e / a^2) - 2 ln a), t = n_c + n_t; interval = estimate -+ se B(t).
 */
export function eppoSequentialMultiplier(t: number, alpha = 0.05, nTune = 10000): number {
  const rho = nTune / (Math.log(Math.log(Math.E / alpha ** 2)) - 2 * Math.log(alpha));
  return Math.sqrt(((t + rho) * Math.log((t + rho) / (rho * alpha ** 2))) / t);
}

/** rho of `eppoSequentialMultiplier`, exported for documentation and tests. */
export function eppoRho(alpha = 0.05, nTune = 10000): number {
  return nTune / (Math.log(Math.log(Math.E / alpha ** 2)) - 2 * Math.log(alpha));
}
