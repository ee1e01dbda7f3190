/**
 * Group-sequential alpha spending (Lan & DeMets 1983), for designs with a few planned
 * looks. Cumulative two-sided alpha spent at information fraction t:
 * - 'obrien-fleming' (gsDesign/ldbounds convention): per side a_s = alpha/2,
 *   a_s(t) = 2 - 2 Phi(z_{1 - a_s/2} / sqrt(t)); two-sided = 2 a_s(t).
 * - 'obrien-fleming-alt': alpha plugged into the same formula, 2 - 2 Phi(z_{1-alpha/2}/sqrt(t)).
 * - 'power' (Spotify): alpha t^rho, rho = 2 by default.
 * Boundaries: z_k such that P(|Z_j| < z_j for j < k, |Z_k| >= z_k) = spent_k - spent_{k-1}
 * under H0, Z_k the Brownian-motion statistic at the looks; computed by recursive numerical
 * integration of the continuation density on a grid (801 points on [-8, 8]; accuracy ~1e-3 in z).
 */
import { normalCdf, normalPdf, normalQuantile } from './distributions';
import { StatsInputError } from './stats-input.error';

export type SpendingFunction = 'obrien-fleming' | 'obrien-fleming-alt' | 'power';

export function alphaSpent(t: number, alpha = 0.05, fn: SpendingFunction = 'obrien-fleming', rho = 2): number {
  if (!(t > 0 && t <= 1)) throw new StatsInputError('information fraction must be in (0, 1]');
  if (fn === 'power') return alpha * Math.pow(t, rho);
  if (fn === 'obrien-fleming-alt') return 2 - 2 * normalCdf(normalQuantile(1 - alpha / 2) / Math.sqrt(t));
  const side = alpha / 2;
  return 2 * (2 - 2 * normalCdf(normalQuantile(1 - side / 2) / Math.sqrt(t)));
}

/** Two-sided z boundaries for looks at the given information fractions. */
export function groupSequentialBounds(fractions: readonly number[], alpha = 0.05, fn: SpendingFunction = 'obrien-fleming', rho = 2): { cumulativeAlpha: number[]; bounds: number[] } {
  const cumulativeAlpha = fractions.map((t) => alphaSpent(t, alpha, fn, rho));
  const grid = 801;
  const lo = -8;
  const hi = 8;
  const h = (hi - lo) / (grid - 1);
  const xs = Array.from({ length: grid }, (_, i) => lo + i * h);
  let density: number[] | null = null; // sub-density of Z_{k-1} on the continuation region
  let prevT = 0;
  let prevBound = Infinity;
  const bounds: number[] = [];
  fractions.forEach((t, k) => {
    const target = cumulativeAlpha[k] - (k === 0 ? 0 : cumulativeAlpha[k - 1]);
    // density of Z_k (standardised) restricted to paths that never crossed before
    let next: number[];
    if (density === null) {
      next = xs.map((z) => normalPdf(z));
    } else {
      const dt = t - prevT;
      next = xs.map((z) => {
        let s = 0;
        for (let i = 0; i < grid; i++) {
          if (Math.abs(xs[i]) >= prevBound) continue;
          const w = (i === 0 || i === grid - 1 ? 0.5 : 1) * h;
          const mean = xs[i] * Math.sqrt(prevT);
          s += w * density![i] * (normalPdf((z * Math.sqrt(t) - mean) / Math.sqrt(dt)) * Math.sqrt(t)) / Math.sqrt(dt);
        }
        return s;
      });
    }
    // P(|Z_k| >= b, no earlier crossing): the density is symmetric under H0, so twice the
    // upper tail of the piecewise-linear interpolant (continuous in b, so bisection is exact)
    const tail = (b: number): number => {
      let s = 0;
      for (let i = 0; i < grid - 1; i++) {
        const x0 = xs[i];
        const x1 = xs[i + 1];
        if (x1 <= b) continue;
        const from = Math.max(x0, b);
        const f = (x: number): number => next[i] + ((next[i + 1] - next[i]) * (x - x0)) / h;
        s += ((f(from) + f(x1)) / 2) * (x1 - from);
      }
      return 2 * s;
    };
    // bisection on the crossing probability (piecewise constant on the grid: interpolate)
    let a = 0;
    let b = 10;
    for (let it = 0; it < 60; it++) {
      const m = (a + b) / 2;
      if (tail(m) > target) a = m;
      else b = m;
    }
    bounds.push((a + b) / 2);
    density = next.map((d, i) => (Math.abs(xs[i]) < bounds[k] ? d : 0));
    prevT = t;
    prevBound = bounds[k];
  });
  return { cumulativeAlpha, bounds };
}
