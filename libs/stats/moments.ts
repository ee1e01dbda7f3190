/**
 * Sufficient statistics. Every method in this library starts from sums that add up
 * across time windows and shards: counts, sums, RAW (uncentred) sums of squares and
 * RAW sums of cross-products. Merging is plain addition, so the order and the split
 * in which rows are aggregated never changes an answer.
 */

/** Per-unit metric values x_i of one arm: n, sum x_i, sum x_i^2. */
export interface MomentStats {
  n: number;
  sum: number;
  /** RAW sum of squares, sum of x_i^2 (not centred). */
  sumSquares: number;
}

/**
 * Per-unit numerator y_i and denominator z_i of a ratio metric (for example cost and
 * successes per user): sums, RAW sums of squares and the RAW cross-product sum y_i z_i.
 */
export interface RatioStats {
  n: number;
  sumNum: number;
  sumNumSquares: number;
  sumDen: number;
  sumDenSquares: number;
  sumNumDen: number;
}

/**
 * What every two-arm test needs from one arm: the unit count, the estimate of the arm's
 * mean (or ratio, or quantile) and the PER-UNIT variance, so that the variance of the
 * estimate is variance / n.
 */
export interface ArmSummary {
  n: number;
  mean: number;
  variance: number;
}

export const emptyMoments = (): MomentStats => ({ n: 0, sum: 0, sumSquares: 0 });

/** Adds sufficient statistics (associative and commutative). */
export function mergeMoments(...parts: MomentStats[]): MomentStats {
  return parts.reduce((a, b) => ({ n: a.n + b.n, sum: a.sum + b.sum, sumSquares: a.sumSquares + b.sumSquares }), emptyMoments());
}

/** Sufficient statistics of a list of per-unit values. */
export function momentsFromValues(values: readonly number[]): MomentStats {
  let sum = 0;
  let sumSquares = 0;
  for (const x of values) {
    sum += x;
    sumSquares += x * x;
  }
  return { n: values.length, sum, sumSquares };
}

export const emptyRatio = (): RatioStats => ({ n: 0, sumNum: 0, sumNumSquares: 0, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 });

/** Adds ratio sufficient statistics (associative and commutative). */
export function mergeRatio(...parts: RatioStats[]): RatioStats {
  return parts.reduce(
    (a, b) => ({
      n: a.n + b.n,
      sumNum: a.sumNum + b.sumNum,
      sumNumSquares: a.sumNumSquares + b.sumNumSquares,
      sumDen: a.sumDen + b.sumDen,
      sumDenSquares: a.sumDenSquares + b.sumDenSquares,
      sumNumDen: a.sumNumDen + b.sumNumDen,
    }),
    emptyRatio(),
  );
}

/** Ratio sufficient statistics from per-unit (numerator, denominator) pairs. */
export function ratioFromValues(pairs: readonly (readonly [number, number])[]): RatioStats {
  const s = emptyRatio();
  for (const [y, z] of pairs) {
    s.n += 1;
    s.sumNum += y;
    s.sumNumSquares += y * y;
    s.sumDen += z;
    s.sumDenSquares += z * z;
    s.sumNumDen += y * z;
  }
  return s;
}

/** Sample mean sum / n (0 when n = 0, as in GrowthBook). */
export function meanOf(m: MomentStats): number {
  return m.n === 0 ? 0 : m.sum / m.n;
}

/**
 * Unbiased sample variance (sumSquares - sum^2/n) / (n - 1); 0 when n <= 1. Not clamped:
 * inconsistent sums show up as a negative value that the tests then refuse.
 */
export function varianceOf(m: MomentStats): number {
  if (m.n <= 1) return 0;
  return (m.sumSquares - (m.sum * m.sum) / m.n) / (m.n - 1);
}

/** Unbiased sample covariance from a RAW cross-product sum. */
export function covarianceOf(n: number, sumA: number, sumB: number, sumAB: number): number {
  if (n <= 1) return 0;
  return (sumAB - (sumA * sumB) / n) / (n - 1);
}

/** Arm summary of a mean metric: sample mean and unbiased (n - 1) variance. */
export function meanSummary(m: MomentStats): ArmSummary {
  return { n: m.n, mean: meanOf(m), variance: varianceOf(m) };
}

/**
 * Arm summary of a 0/1 metric: p = successes / n and variance p(1 - p) (no n - 1
 * correction, GrowthBook's ProportionStatistic convention).
 */
export function proportionSummary(p: { n: number; successes: number }): ArmSummary {
  const mean = p.n === 0 ? 0 : p.successes / p.n;
  return { n: p.n, mean, variance: mean * (1 - mean) };
}

/**
 * Arm summary from a mean and a per-unit variance, for callers that hold summary
 * statistics rather than sums.
 */
export function summaryFromMeanVariance(n: number, mean: number, variance: number): ArmSummary {
  return { n, mean, variance };
}

/**
 * Rebuilds RAW sufficient statistics from a mean and an unbiased variance, for tests
 * and for importing summary tables: sumSquares = (n - 1) var + n mean^2.
 */
export function momentsFromMeanVariance(n: number, mean: number, variance: number): MomentStats {
  return { n, sum: n * mean, sumSquares: (n - 1) * variance + n * mean * mean };
}

/**
 * Delta-method variance of a ratio of means A/B, given the means, the variances and
 * the covariance of A and B (whatever scale they are on, per unit or of the means):
 * var(A)/B^2 - 2 cov(A,B) A/B^3 + var(B) A^2/B^4.
 */
export function varianceOfRatio(meanA: number, varA: number, meanB: number, varB: number, covAB: number): number {
  return varA / meanB ** 2 - (2 * covAB * meanA) / meanB ** 3 + (varB * meanA ** 2) / meanB ** 4;
}
