/**
 * Bayesian summaries: a Gaussian posterior on the lift (GrowthBook's
 * EffectBayesianABTest) and a beta-binomial model for rates.
 */
import { betaCdf, betaPdf, betaQuantile, normalCdf, normalPdf, normalQuantile } from './distributions';
import { Effect } from './effect';
import { integrate } from './integrate';
import { StatsInputError } from './stats-input.error';

/**
 * Prior on the RELATIVE lift (GrowthBook convention). For an absolute effect that carries
 * its baseline, the prior is rescaled to mean x |baseline| and variance x baseline^2.
 */
export interface GaussianPrior {
  mean: number;
  /** A VARIANCE (GrowthBook's GaussianPrior), not a standard deviation. */
  variance: number;
}

export interface BayesOptions {
  /** Proper prior on the lift; omit for the improper flat prior (the default). */
  prior?: GaussianPrior;
  /** Credible interval level 1 - alpha. Default 0.05. */
  alpha?: number;
  /** Lower is better (latency, cost): chance to win becomes P(lift < 0) and the risks swap. */
  inverse?: boolean;
}

export interface BayesResult {
  /** Posterior mean of the lift. */
  mean: number;
  sd: number;
  ci: [number, number];
  /** P(treatment better than control). */
  chanceToBeatControl: number;
  /**
   * [expected loss of keeping control, expected loss of shipping treatment], in lift
   * units, GrowthBook's `risk` (swapped when inverse).
   */
  risk: [number, number];
  /** Expected loss of shipping the treatment, risk[1]. */
  expectedLoss: number;
}

/**
 * Gaussian posterior on the lift from an estimate and its s.e. (any `Effect`).
 * Flat prior: N(estimate, se^2). Proper prior N(m0, v0): precision 1/se^2 + 1/v0, mean
 * (estimate/se^2 + m0/v0)/precision. E[max(L, 0)] = mu Phi(mu/sd) + sd phi(mu/sd),
 * E[max(-L, 0)] = sd phi(mu/sd) - mu Phi(-mu/sd).
 */
export function bayesGaussian(effect: Pick<Effect, 'estimate' | 'se'> & Partial<Effect>, options: BayesOptions = {}): BayesResult {
  const alpha = options.alpha ?? 0.05;
  if (!(effect.se > 0)) throw new StatsInputError('standard error must be positive');
  let mean = effect.estimate;
  let variance = effect.se ** 2;
  if (options.prior) {
    const scale = effect.difference === 'absolute' && effect.baseline !== undefined ? Math.abs(effect.baseline) : 1;
    const priorMean = options.prior.mean * scale;
    const priorVariance = options.prior.variance * scale * scale;
    const precision = 1 / variance + 1 / priorVariance;
    mean = (effect.estimate / variance + priorMean / priorVariance) / precision;
    variance = 1 / precision;
  }
  const sd = Math.sqrt(variance);
  const z = normalQuantile(1 - alpha / 2);
  const u = mean / sd;
  const gain = mean * normalCdf(u) + sd * normalPdf(u);
  const loss = sd * normalPdf(u) - mean * normalCdf(-u);
  const pUp = normalCdf(u);
  const chanceToBeatControl = options.inverse ? 1 - pUp : pUp;
  const risk: [number, number] = options.inverse ? [loss, gain] : [gain, loss];
  return { mean, sd, ci: [mean - z * sd, mean + z * sd], chanceToBeatControl, risk, expectedLoss: risk[1] };
}

export interface BetaBinomialOptions {
  /** Beta(a, b) prior for both arms. Default [1, 1] (uniform). */
  prior?: [number, number];
  /** Credible interval level for each arm's rate. Default 0.05. */
  alpha?: number;
}

export interface BetaBinomialResult {
  posteriorControl: [number, number];
  posteriorTreatment: [number, number];
  ciControl: [number, number];
  ciTreatment: [number, number];
  /** P(p_t > p_c). */
  chanceToBeatControl: number;
  /** E[max(p_c - p_t, 0)]: rate lost by shipping the treatment. */
  expectedLossShip: number;
  /** E[max(p_t - p_c, 0)]: rate lost by keeping the control. */
  expectedLossKeep: number;
}

/**
 * Beta-binomial comparison of two rates. Posteriors Beta(a + x, b + n - x).
 * P(p_t > p_c) = int f_t(x) F_c(x) dx; E[max(p_c - p_t, 0)] = int f_t(t) [m_c (1 - I_t(a_c + 1, b_c))
 * - t (1 - I_t(a_c, b_c))] dt; both by Gauss-Legendre quadrature over the central
 * 1 - 1e-12 mass of the outer density (error far below 1e-9).
 */
export function betaBinomial(control: { n: number; successes: number }, treatment: { n: number; successes: number }, options: BetaBinomialOptions = {}): BetaBinomialResult {
  const [a0, b0] = options.prior ?? [1, 1];
  const alpha = options.alpha ?? 0.05;
  for (const arm of [control, treatment]) {
    if (!(arm.n >= 0 && arm.successes >= 0 && arm.successes <= arm.n)) throw new StatsInputError('betaBinomial: need 0 <= successes <= n');
  }
  const [ac, bc] = [a0 + control.successes, b0 + control.n - control.successes];
  const [at, bt] = [a0 + treatment.successes, b0 + treatment.n - treatment.successes];
  const range = (a: number, b: number): [number, number] => [betaQuantile(1e-13, a, b), betaQuantile(1 - 1e-13, a, b)];
  /** E[max(Y - x, 0)] for Y ~ Beta(a, b). */
  const upperPartial = (x: number, a: number, b: number): number => (a / (a + b)) * (1 - betaCdf(x, a + 1, b)) - x * (1 - betaCdf(x, a, b));
  const [lt, ht] = range(at, bt);
  const [lc, hc] = range(ac, bc);
  const chance = integrate((x) => betaPdf(x, at, bt) * betaCdf(x, ac, bc), lt, ht, 200);
  const lossShip = integrate((x) => betaPdf(x, at, bt) * upperPartial(x, ac, bc), lt, ht, 200);
  const lossKeep = integrate((x) => betaPdf(x, ac, bc) * upperPartial(x, at, bt), lc, hc, 200);
  const ci = (a: number, b: number): [number, number] => [betaQuantile(alpha / 2, a, b), betaQuantile(1 - alpha / 2, a, b)];
  return {
    posteriorControl: [ac, bc],
    posteriorTreatment: [at, bt],
    ciControl: ci(ac, bc),
    ciTreatment: ci(at, bt),
    chanceToBeatControl: chance,
    expectedLossShip: lossShip,
    expectedLossKeep: lossKeep,
  };
}
