/**
 * Tests against a margin: non-inferiority (guardrails: "not worse than the control by
 * more than m") and superiority by a margin ("better by at least m"). A "cheaper at equal
 * quality" goal is a non-inferiority test on quality plus a superiority test on cost.
 */
import { normalCdf, tCdf, tQuantile } from './distributions';
import { Effect } from './effect';
import { StatsInputError } from './stats-input.error';

export interface MarginTestOptions {
  /** Margin, a positive number in the effect's units, or a fraction of `baseline` when marginType is 'relative'. */
  margin: number;
  /** 'absolute' (default): margin as given; 'relative': margin x |baseline| (Spotify NIM convention). */
  marginType?: 'absolute' | 'relative';
  /** Control mean for a relative margin on an absolute effect; defaults to effect.baseline. */
  baseline?: number;
  /** Lower is better (latency, cost). */
  lowerIsBetter?: boolean;
  alpha?: number;
  /** 'normal' (default) or 't' with the effect's dof. */
  distribution?: 'normal' | 't';
}

export interface MarginTestResult {
  /** The margin in the effect's units. */
  marginAbs: number;
  statistic: number;
  /** One-sided p-value of H0 (inferior / not superior by the margin). */
  pValue: number;
  /** One-sided (1 - alpha) confidence bound on the effect on the "worse" side. */
  bound: number;
  /** true when H0 is rejected at alpha (equivalently the bound clears the margin). */
  passed: boolean;
}

function marginOf(effect: Partial<Effect>, o: MarginTestOptions): number {
  if (!(o.margin >= 0)) throw new StatsInputError('margin must be >= 0');
  if (o.marginType === 'relative') {
    const base = o.baseline ?? effect.baseline;
    if (base === undefined) throw new StatsInputError('a relative margin needs a baseline');
    return o.margin * Math.abs(base);
  }
  return o.margin;
}

function run(effect: Pick<Effect, 'estimate' | 'se'> & Partial<Effect>, o: MarginTestOptions, threshold: number): MarginTestResult {
  if (!(effect.se > 0)) throw new StatsInputError('standard error must be positive');
  const alpha = o.alpha ?? 0.05;
  const dof = o.distribution === 't' ? (effect.dof ?? Infinity) : Infinity;
  const cdf = (x: number): number => (Number.isFinite(dof) ? tCdf(x, dof) : normalCdf(x));
  const q = tQuantile(1 - alpha, dof);
  // Higher is better: H0 d <= threshold. Lower is better: H0 d >= -threshold (mirror).
  const statistic = o.lowerIsBetter ? (-threshold - effect.estimate) / effect.se : (effect.estimate - threshold) / effect.se;
  const pValue = cdf(-statistic);
  const bound = o.lowerIsBetter ? effect.estimate + q * effect.se : effect.estimate - q * effect.se;
  return { marginAbs: Math.abs(threshold), statistic, pValue, bound, passed: pValue < alpha };
}

/**
 * Non-inferiority. Higher is better: H0 d <= -m, z = (d + m)/se. Lower is better:
 * H0 d >= m, z = (m - d)/se. p = 1 - F(z).
 */
export function nonInferiorityTest(effect: Pick<Effect, 'estimate' | 'se'> & Partial<Effect>, options: MarginTestOptions): MarginTestResult {
  return run(effect, options, -marginOf(effect, options));
}

/**
 * Superiority by a margin. Higher is better: H0 d <= m, z = (d - m)/se. Lower is better:
 * H0 d >= -m, z = (-m - d)/se. margin 0 is the ordinary one-sided test.
 */
export function superiorityTest(effect: Pick<Effect, 'estimate' | 'se'> & Partial<Effect>, options: MarginTestOptions): MarginTestResult {
  return run(effect, options, marginOf(effect, options));
}
