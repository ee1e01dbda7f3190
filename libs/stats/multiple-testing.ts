/**
 * Multiple-comparison adjustments across variants x metrics. Adjusted p-values are
 * returned in input order; reject when adjusted p <= alpha (or q).
 */

function order(p: readonly number[]): number[] {
  return p.map((_, i) => i).sort((a, b) => p[a] - p[b]);
}

/** Holm step-down (FWER): adj_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)). */
export function holm(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const out = new Array<number>(m);
  let running = 0;
  order(pValues).forEach((idx, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * pValues[idx]));
    out[idx] = running;
  });
  return out;
}

/** Benjamini-Hochberg step-up (FDR): adj_(i) = min_{j>=i} min(1, m p_(j) / j). */
export function benjaminiHochberg(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const out = new Array<number>(m);
  const idx = order(pValues);
  let running = 1;
  for (let rank = m - 1; rank >= 0; rank--) {
    running = Math.min(running, Math.min(1, (m * pValues[idx[rank]]) / (rank + 1)));
    out[idx[rank]] = running;
  }
  return out;
}

/** Bonferroni: min(1, m p). */
export function bonferroni(pValues: readonly number[]): number[] {
  return pValues.map((p) => Math.min(1, p * pValues.length));
}

/** Reject flags for adjusted p-values at level alpha. */
export function rejections(adjusted: readonly number[], alpha = 0.05): boolean[] {
  return adjusted.map((p) => p <= alpha);
}
