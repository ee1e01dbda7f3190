/**
 * Sample ratio mismatch: Pearson chi-square goodness of fit of exposed units against the
 * configured traffic weights. Follows GrowthBook's TypeScript checkSrm: arms with weight 0
 * are dropped from the total AND the degrees of freedom; fewer than two arms left, or no
 * units, means there is nothing to test (p = 1, tested = false).
 */
import { chiSquareSurvival } from './distributions';

/** GrowthBook's DEFAULT_SRM_THRESHOLD: flag when p < 0.001. */
export const SRM_THRESHOLD = 0.001;

export interface SrmResult {
  pValue: number;
  chiSquare: number;
  dof: number;
  /** false when the p-value is below the threshold (a mismatch). */
  ok: boolean;
  /** false when no test could be run; then `reason` says why and pValue is 1. */
  tested: boolean;
  reason?: 'length-mismatch' | 'fewer-than-two-arms' | 'no-units';
}

export function srm(counts: readonly number[], weights: readonly number[], threshold = SRM_THRESHOLD): SrmResult {
  const untested = (reason: SrmResult['reason']): SrmResult => ({ pValue: 1, chiSquare: 0, dof: 0, ok: true, tested: false, reason });
  if (counts.length !== weights.length) return untested('length-mismatch');
  const kept = counts.map((c, i) => ({ c, w: weights[i] })).filter((x) => x.w > 0);
  if (kept.length < 2) return untested('fewer-than-two-arms');
  const total = kept.reduce((s, x) => s + x.c, 0);
  if (total === 0) return untested('no-units');
  const wSum = kept.reduce((s, x) => s + x.w, 0);
  let chiSquare = 0;
  for (const { c, w } of kept) {
    const expected = (w / wSum) * total;
    chiSquare += (c - expected) ** 2 / expected;
  }
  const dof = kept.length - 1;
  const pValue = chiSquareSurvival(chiSquare, dof);
  return { pValue, chiSquare, dof, ok: !(pValue < threshold), tested: true };
}
