/**
 * Power, minimum detectable effect and sample size, fixed-horizon and sequential.
 *
 * Sequential inflation (documented in README): an always-valid interval at the planned
 * total N is m(N) standard errors wide instead of z_{1-alpha/2}, with m(N) the
 * confidence-sequence half-width in standard errors (`sequentialMultiplier`).
 * Default convention 'threshold': the critical value z_{1-alpha/2} is replaced by m(N), so
 * power = P(the sequence excludes 0 at the planned horizon), a lower bound on the power of
 * monitoring (stopping earlier can only add rejections). This is also what GrowthBook's
 * mid-experiment power does. Convention 'growthbook-variance' reproduces GrowthBook's
 * planning UI instead: the variance is inflated by k^2 = (m(N)/z_{1-alpha/2})^2 and the
 * fixed-horizon formulas are reused; it overstates power and (for MDE) is conservative.
 * Sample sizes solve n = (m(2n) + z_{power})^2 V / delta^2.
 */
import { normalCdf, normalQuantile } from './distributions';
import { Effect } from './effect';
import { GaussianPrior } from './bayes';
import { sequentialMultiplier, sequentialRho } from './sequential-test';
import { StatsInputError } from './stats-input.error';

export interface RelativePowerInput {
  /** Baseline mean per unit. */
  mean: number;
  /** Per-unit variance. */
  variance: number;
  /** Total units across all variations. */
  totalUnits: number;
  /** Arms including control. Default 2. */
  variations?: number;
  /** Default 0.05, two-sided. */
  alpha?: number;
  /** Sequential tuning N* when the analysis will be sequential; omit for fixed horizon. */
  sequentialTuning?: number;
  /** How a sequential design inflates power/MDE; see the file comment. Default 'threshold'. */
  sequentialConvention?: 'threshold' | 'growthbook-variance';
}

function critical(alpha: number, nTotalPair: number, tuning?: number): number {
  return tuning ? sequentialMultiplier(nTotalPair, alpha, tuning) : normalQuantile(1 - alpha / 2);
}

/**
 * Power to detect a relative lift e (GrowthBook powerEstFrequentist): n = totalUnits/variations
 * per arm, se = sqrt(var/(m^2 n) + var (m(1+e))^2/(m^4 n)),
 * power = 1 - Phi(c - e/se) + Phi(-c - e/se), c = z_{1-alpha/2} or the sequential multiplier at N = 2n.
 */
export function power(input: RelativePowerInput & { relativeEffect: number }): number {
  const { mean: m, variance: v, relativeEffect: e } = input;
  const nArm = input.totalUnits / (input.variations ?? 2);
  const alpha = input.alpha ?? 0.05;
  let se = Math.sqrt(v / (m * m * nArm) + (v * (m * (1 + e)) ** 2) / (m ** 4 * nArm));
  let c = critical(alpha, 2 * nArm, input.sequentialTuning);
  if (input.sequentialTuning && input.sequentialConvention === 'growthbook-variance') {
    const z = normalQuantile(1 - alpha / 2);
    se *= c / z;
    c = z;
  }
  return 1 - normalCdf(c - e / se) + normalCdf(-c - e / se);
}

/**
 * Relative MDE at the given power (GrowthBook findMdeFrequentist): solve
 * a x^2 + b x + c = 0, a = 1 - z^2 s2/m^2, b = -2m, c = m^2 - z^2 s2, z = c_alpha + z_{power},
 * s2 = var/n; mde = (larger root - m)/m. Sequential: c_alpha = m(N) ('threshold'), or
 * z_{1-alpha/2} with s2 inflated by k^2 ('growthbook-variance').
 */
export function mde(input: RelativePowerInput & { power?: number }): number {
  const m = input.mean;
  const nArm = input.totalUnits / (input.variations ?? 2);
  const alpha = input.alpha ?? 0.05;
  const zA = normalQuantile(1 - alpha / 2);
  const crit = critical(alpha, 2 * nArm, input.sequentialTuning);
  const zB = normalQuantile(input.power ?? 0.8);
  const growthbook = input.sequentialConvention === 'growthbook-variance';
  const k = growthbook ? crit / zA : 1;
  const z = (growthbook ? zA : crit) + zB;
  const s2 = (k * k * input.variance) / nArm;
  const a = 1 - (z * z * s2) / (m * m);
  const b = -2 * m;
  const c = m * m - z * z * s2;
  const disc = b * b - 4 * a * c;
  if (a <= 0 || disc < 0) return Infinity;
  return ((-b + Math.sqrt(disc)) / (2 * a) - m) / m;
}

export interface SampleSizeInput {
  /** Per-unit variance in control (and treatment unless given). */
  varianceControl: number;
  varianceTreatment?: number;
  /** Absolute difference to detect. */
  delta: number;
  alpha?: number;
  power?: number;
  sequentialTuning?: number;
}

/**
 * Units per arm, two-sided, equal split: n = (c + z_{power})^2 (v_c + v_t)/delta^2, rounded
 * up; c = z_{1-alpha/2}, or for a sequential design the multiplier at N = 2n (solved by
 * bisection, since c depends on n).
 */
export function sampleSizePerArm(input: SampleSizeInput): { n: number; raw: number } {
  const alpha = input.alpha ?? 0.05;
  const zB = normalQuantile(input.power ?? 0.8);
  const v = input.varianceControl + (input.varianceTreatment ?? input.varianceControl);
  if (!(input.delta !== 0 && v > 0)) throw new StatsInputError('sample size needs a non-zero delta and positive variance');
  const d2 = input.delta * input.delta;
  const fixed = ((normalQuantile(1 - alpha / 2) + zB) ** 2 * v) / d2;
  if (!input.sequentialTuning) return { n: Math.ceil(fixed), raw: fixed };
  const tuning = input.sequentialTuning;
  const gap = (n: number): number => ((sequentialMultiplier(2 * n, alpha, tuning) + zB) ** 2 * v) / d2 - n;
  let lo = Math.max(1, fixed / 2);
  let hi = fixed;
  while (gap(hi) > 0) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-6 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (gap(mid) > 0) lo = mid;
    else hi = mid;
  }
  return { n: Math.ceil(hi), raw: hi };
}

/** Sample size for a conversion rate: baseline p, relative MDE; 'unpooled' (default) or 'pooled' null variance. */
export function proportionSampleSizePerArm(input: {
  baseline: number;
  relativeMde: number;
  alpha?: number;
  power?: number;
  variance?: 'unpooled' | 'pooled';
}): { n: number; raw: number; pTreatment: number } {
  const p1 = input.baseline;
  const p2 = p1 * (1 + input.relativeMde);
  const alpha = input.alpha ?? 0.05;
  const zA = normalQuantile(1 - alpha / 2);
  const zB = normalQuantile(input.power ?? 0.8);
  const d = p2 - p1;
  let raw: number;
  if (input.variance === 'pooled') {
    const pbar = (p1 + p2) / 2;
    raw = (zA * Math.sqrt(2 * pbar * (1 - pbar)) + zB * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (d * d);
  } else {
    raw = ((zA + zB) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2))) / (d * d);
  }
  return { n: Math.ceil(raw), raw, pTreatment: p2 };
}

/** Absolute MDE with n units per arm: (c + z_{power}) sqrt((v_c + v_t)/n), c as in sampleSizePerArm. */
export function absoluteMde(input: { varianceControl: number; varianceTreatment?: number; nPerArm: number; alpha?: number; power?: number; sequentialTuning?: number }): number {
  const alpha = input.alpha ?? 0.05;
  const v = input.varianceControl + (input.varianceTreatment ?? input.varianceControl);
  const c = critical(alpha, 2 * input.nPerArm, input.sequentialTuning);
  return (c + normalQuantile(input.power ?? 0.8)) * Math.sqrt(v / input.nPerArm);
}

export interface RemainingUnitsOptions {
  /** Effect size to detect, in the effect's units (relative lift for relative effects). */
  targetMde: number;
  targetPower?: number;
  alpha?: number;
  /** Arms incl. control and goal metrics; alpha is split over (variations-1) x goalMetrics tests. */
  variations?: number;
  goalMetrics?: number;
  sequentialTuning?: number;
  /** Bayesian analysis with a proper prior on the effect. */
  prior?: GaussianPrior;
}

export interface RemainingUnitsResult {
  /** Additional units needed across the pair of arms (scalingFactor x current pair size). */
  additionalUnits: number;
  scalingFactor: number;
  alreadyPowered: boolean;
  /** false when even 2^27 times the current sample does not reach the target. */
  converged: boolean;
}

/**
 * Remaining sample size mid-experiment (GrowthBook MidExperimentPower). Current effect
 * variance s2 shrinks to s2/(1 + f) with f x (current pair size) more units; power(f) as in
 * `power` (sequential: confidence-sequence half-width at the new total; proper prior:
 * posterior-based rule). f is found as GrowthBook does, by doubling and then bisection until
 * |power - target| < 1e-5, so results agree with GrowthBook to its printed precision.
 */
export function remainingUnits(effect: Pick<Effect, 'se' | 'n'>, options: RemainingUnitsOptions): RemainingUnitsResult {
  const alpha = options.alpha ?? 0.05;
  const goal = options.goalMetrics ?? 1;
  const tests = ((options.variations ?? 2) - 1) * goal;
  const multiplier = normalQuantile(1 - alpha / (2 * tests));
  const target = (options.targetPower ?? 0.8) ** (1 / goal);
  const mdeAbs = Math.abs(options.targetMde);
  const s2 = effect.se ** 2;
  const pair = effect.n;
  if (!(s2 > 0)) throw new StatsInputError('remainingUnits needs a positive effect variance');
  const powerAt = (f: number): number => {
    const v = s2 / (1 + f);
    const sd = Math.sqrt(v);
    if (options.prior) {
      const prec = 1 / options.prior.variance + 1 / v;
      const n1 = v * Math.sqrt(prec) * multiplier;
      const n2 = (v * options.prior.mean) / options.prior.variance;
      return 1 - normalCdf((n1 - n2 - mdeAbs) / sd) + normalCdf(-(n1 + n2 + mdeAbs) / sd);
    }
    let half: number;
    if (options.sequentialTuning) {
      const a = alpha / tests;
      const rho = sequentialRho(a, options.sequentialTuning);
      const nTotal = pair + f * pair;
      const r = nTotal * rho * rho + 1;
      half = Math.sqrt(pair * s2) * Math.sqrt((2 * r * Math.log(Math.sqrt(r) / a)) / (nTotal * rho) ** 2);
    } else {
      half = multiplier * sd;
    }
    return 1 - normalCdf((half - mdeAbs) / sd) + normalCdf(-(half + mdeAbs) / sd);
  };
  if (powerAt(0) > target) return { additionalUnits: 0, scalingFactor: 0, alreadyPowered: true, converged: true };
  let f = 1;
  let current = powerAt(f);
  for (let i = 0; i < 27 && current < target; i++) {
    f *= 2;
    current = powerAt(f);
  }
  if (current < target) return { additionalUnits: Infinity, scalingFactor: Infinity, alreadyPowered: false, converged: false };
  let lo = 0;
  let hi = f;
  let diff = current - target;
  for (let i = 0; i < 100; i++) {
    if (diff > 0) hi = f;
    else lo = f;
    f = 0.5 * (lo + hi);
    current = powerAt(f);
    diff = current - target;
    if (Math.abs(diff) < 1e-5) break;
  }
  return { additionalUnits: f * pair, scalingFactor: f, alreadyPowered: false, converged: Math.abs(diff) < 1e-5 };
}
