/**
 * Distribution functions used by the library. Every special function comes from
 * @stdlib (never hand-written series); this file only gives them short names and
 * one place to be imported from.
 */
import normal from '@stdlib/stats-base-dists-normal';
import studentT from '@stdlib/stats-base-dists-t';
import chisquare from '@stdlib/stats-base-dists-chisquare';
import beta from '@stdlib/stats-base-dists-beta';

/** Standard normal CDF Phi(x). */
export function normalCdf(x: number): number {
  return normal.cdf(x, 0, 1);
}

/** Standard normal quantile Phi^-1(p). */
export function normalQuantile(p: number): number {
  return normal.quantile(p, 0, 1);
}

/** Standard normal density phi(x). */
export function normalPdf(x: number): number {
  return normal.pdf(x, 0, 1);
}

/** Normal CDF with mean mu and standard deviation sigma. */
export function normalCdfAt(x: number, mu: number, sigma: number): number {
  return normal.cdf(x, mu, sigma);
}

/** Normal density with mean mu and standard deviation sigma. */
export function normalPdfAt(x: number, mu: number, sigma: number): number {
  return normal.pdf(x, mu, sigma);
}

/** Normal quantile with mean mu and standard deviation sigma. */
export function normalQuantileAt(p: number, mu: number, sigma: number): number {
  return normal.quantile(p, mu, sigma);
}

/** Student t CDF with `dof` degrees of freedom; dof = Infinity gives the normal. */
export function tCdf(x: number, dof: number): number {
  return Number.isFinite(dof) ? studentT.cdf(x, dof) : normalCdf(x);
}

/** Student t quantile; dof = Infinity gives the normal quantile. */
export function tQuantile(p: number, dof: number): number {
  return Number.isFinite(dof) ? studentT.quantile(p, dof) : normalQuantile(p);
}

/** Upper tail P(X > x) of a chi-square distribution with k degrees of freedom. */
export function chiSquareSurvival(x: number, k: number): number {
  return 1 - chisquare.cdf(x, k);
}

/** Beta(a, b) CDF, i.e. the regularised incomplete beta function I_x(a, b). */
export function betaCdf(x: number, a: number, b: number): number {
  return beta.cdf(x, a, b);
}

/** Beta(a, b) density. */
export function betaPdf(x: number, a: number, b: number): number {
  return beta.pdf(x, a, b);
}

/** Beta(a, b) quantile. */
export function betaQuantile(p: number, a: number, b: number): number {
  return beta.quantile(p, a, b);
}

/**
 * Binomial CDF P(X <= k) for X ~ Bin(n, p), through the identity
 * P(X <= k) = I_{1-p}(n - k, k + 1) (regularised incomplete beta, from @stdlib).
 */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  return betaCdf(1 - p, n - k, k + 1);
}
