import { normalQuantile } from './distributions';
import { StatsInputError } from './stats-input.error';

/**
 * Wilson score interval of a proportion (successes of n), two-sided at 1 - alpha; without
 * continuity correction (scipy `binomtest(k, n).proportion_ci(method='wilson')`). Stays inside
 * [0, 1] and is sensible at 0 or n successes, unlike the Wald interval.
 */
export function wilsonInterval(successes: number, n: number, alpha = 0.05): [number, number] {
  if (!Number.isInteger(n) || n < 1) throw new StatsInputError('a proportion needs at least one trial');
  if (!Number.isInteger(successes) || successes < 0 || successes > n) throw new StatsInputError('successes must be an integer from 0 to n');
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError('alpha must be in (0, 1)');
  const z = normalQuantile(1 - alpha / 2);
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
