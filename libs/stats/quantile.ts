/**
 * Quantile metrics (p50, p90, p95, p99) and their differences with valid intervals.
 *
 * Per arm, the outer (order-statistic) interval of Deng, Knoblich & Lu (2018), used by
 * GrowthBook, Statsig and Eppo: with s = sqrt(q(1 - q) D / n),
 * [L, U] = [Q(q - z s), Q(q + z s)] and se = (U - L)/(2 z). A source known only to a
 * resolution (a log histogram) gives L and U as the outer edges of the buckets that hold
 * those order statistics, so the interval is never narrower than the resolution. D is the design effect: 1 when
 * the quantile's observations are independent (request-randomised), and for user-randomised
 * data with several requests per user the delta-method ratio of Var(F_hat(Q)) to its iid
 * value, where F_hat(Q) = sum_i S_i / sum_i N_i, S_i = user i's requests <= Q, N_i = all of
 * user i's requests. Differences of two arms are then normal: d -+ z sqrt(se_t^2 + se_c^2)
 * (relative: delta method).
 */
import { normalQuantile } from './distributions';
import { binomialCdf } from './distributions';
import { Effect, TestOptions, TestResult, fixedHorizonResult } from './effect';
import { EdgeBucket, quantileFromBuckets } from './log-histogram';
import { ArmSummary, RatioStats, ratioFromValues } from './moments';
import { ratioSummary } from './ratio-test';
import { StatsInputError } from './stats-input.error';

/** Anything that can answer quantiles: a LogHistogram, fixed-edge buckets, raw values. */
export interface QuantileSource {
  readonly count: number;
  quantile(q: number): number;
  /**
   * Where the value behind quantile(q) may lie when the source only knows it to a resolution
   * (a log histogram: its bucket's edges). Intervals use the outer ends, so that values
   * clustered in one bucket still get an interval as wide as the resolution, never zero.
   */
  quantileBounds?(q: number): [number, number];
}

/** Raw values as a source; Q(q) = smallest x with ECDF(x) >= q, i.e. x_(ceil(q n)) (1-based). */
export function valuesSource(values: readonly number[]): QuantileSource {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    quantile(q: number): number {
      if (sorted.length === 0) throw new StatsInputError('quantile of no values');
      const k = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length - 1e-12)));
      return sorted[k - 1];
    },
  };
}

/** Fixed-edge buckets as a source (linear interpolation inside buckets). */
export function bucketsSource(buckets: readonly EdgeBucket[]): QuantileSource {
  return { count: buckets.reduce((s, b) => s + b.count, 0), quantile: (q) => quantileFromBuckets(buckets, q) };
}

export interface QuantileSummary {
  n: number;
  nu: number;
  estimate: number;
  lower: number;
  upper: number;
  /** (upper - lower)/(2 z). */
  se: number;
  designEffect: number;
}

/** Per-arm quantile estimate with its outer interval (see file comment). Default alpha 0.05, design effect 1. */
export function quantileSummary(source: QuantileSource, q: number, options: { alpha?: number; designEffect?: number } = {}): QuantileSummary {
  const alpha = options.alpha ?? 0.05;
  const deff = options.designEffect ?? 1;
  const n = source.count;
  if (!(n > 0)) throw new StatsInputError('quantile of an empty arm');
  if (!(q > 0 && q < 1)) throw new StatsInputError('quantile level must be in (0, 1)');
  const z = normalQuantile(1 - alpha / 2);
  const s = Math.sqrt((q * (1 - q) * deff) / n);
  const lo = Math.max(0, q - z * s);
  const hi = Math.min(1, q + z * s);
  const lower = source.quantileBounds ? source.quantileBounds(lo)[0] : source.quantile(lo);
  const upper = source.quantileBounds ? source.quantileBounds(hi)[1] : source.quantile(hi);
  return { n, nu: q, estimate: source.quantile(q), lower, upper, se: (upper - lower) / (2 * z), designEffect: deff };
}

/**
 * Design effect of a quantile for clustered data from per-user indicator statistics at the
 * quantile value Q: RatioStats of (S_i, N_i) over users (numerator: requests <= Q,
 * denominator: requests). D = Var_delta(F_hat) / (q(1 - q)/sum N_i). These sums are
 * mergeable, so the ingestion side can keep them per user and shard for a fixed Q.
 */
export function indicatorDesignEffect(stats: RatioStats, q: number): number {
  const s = ratioSummary(stats);
  const varF = s.variance / stats.n;
  return varF / ((q * (1 - q)) / stats.sumDen);
}

/** Quantile summary for user-randomised data from raw per-user request values. */
export function clusteredQuantileSummary(users: readonly (readonly number[])[], q: number, options: { alpha?: number } = {}): QuantileSummary {
  const all: number[] = [];
  for (const u of users) for (const x of u) all.push(x);
  const source = valuesSource(all);
  const qHat = source.quantile(q);
  const pairs = users.filter((u) => u.length > 0).map((u) => [u.filter((x) => x <= qHat).length, u.length] as const);
  const deff = indicatorDesignEffect(ratioFromValues(pairs), q);
  return quantileSummary(source, q, { alpha: options.alpha, designEffect: deff });
}

/** Effect of a quantile difference (normal, dof = Infinity); relative by the delta method. */
export function quantileEffect(control: QuantileSummary, treatment: QuantileSummary, difference: TestOptions['difference'] = 'absolute'): Effect {
  const n = control.n + treatment.n;
  const qc = control.estimate;
  const qt = treatment.estimate;
  if (!(control.se > 0 && treatment.se > 0)) throw new StatsInputError('quantile interval has zero width: too few observations or all equal');
  if (difference === 'absolute') {
    return { estimate: qt - qc, se: Math.sqrt(control.se ** 2 + treatment.se ** 2), dof: Infinity, n, difference, baseline: qc };
  }
  if (qc === 0) throw new StatsInputError('relative lift needs a non-zero control quantile');
  const variance = treatment.se ** 2 / qc ** 2 + (qt ** 2 * control.se ** 2) / qc ** 4;
  return { estimate: (qt - qc) / Math.abs(qc), se: Math.sqrt(variance), dof: Infinity, n, difference, baseline: qc };
}

/** Test of a quantile difference; defaults: absolute, two-sided, alpha 0.05, normal. */
export function quantileDifference(control: QuantileSummary, treatment: QuantileSummary, options: TestOptions = {}): TestResult {
  return fixedHorizonResult(quantileEffect(control, treatment, options.difference ?? 'absolute'), { ...options, distribution: 'normal' });
}

/**
 * GrowthBook's QuantileStatistic as an arm summary (feed to effectFromSummaries):
 * mean = quantile_hat, per-unit variance (nStar / n)(n - 1)((U - L)/(2 z_0.975))^2 with U, L
 * computed at levels nu -+ z_0.975 sqrt(nu(1 - nu) / nStar).
 */
export function growthbookQuantileSummary(s: { n: number; nStar: number; quantileHat: number; quantileLower: number; quantileUpper: number }): ArmSummary {
  const z = normalQuantile(0.975);
  return { n: s.n, mean: s.quantileHat, variance: (s.nStar / s.n) * (s.n - 1) * ((s.quantileUpper - s.quantileLower) / (2 * z)) ** 2 };
}

export interface OrderStatisticInterval {
  estimate: number;
  lower: number;
  upper: number;
  /** 1-based ranks of the interval ends. */
  lowerRank: number;
  upperRank: number;
  /** Exact coverage F(u - 1) - F(l - 1) with F the Bin(n, q) CDF. */
  coverage: number;
}

/**
 * Exact distribution-free interval for the q-quantile of iid values from order statistics:
 * l = largest rank with F(l - 1) <= alpha/2, u = smallest rank with F(u - 1) >= 1 - alpha/2.
 */
export function orderStatisticInterval(values: readonly number[], q: number, confidence = 0.95): OrderStatisticInterval {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const a = 1 - confidence;
  let l = 1;
  while (l + 1 <= n && binomialCdf(l, n, q) <= a / 2) l++;
  let u = n;
  while (u - 1 >= 1 && binomialCdf(u - 2, n, q) >= 1 - a / 2) u--;
  if (binomialCdf(l - 1, n, q) > a / 2 || binomialCdf(u - 1, n, q) < 1 - a / 2) {
    throw new StatsInputError(`too few values (${n}) for a ${confidence} interval of the ${q} quantile`);
  }
  return {
    estimate: valuesSource(values).quantile(q),
    lower: sorted[l - 1],
    upper: sorted[u - 1],
    lowerRank: l,
    upperRank: u,
    coverage: binomialCdf(u - 1, n, q) - binomialCdf(l - 1, n, q),
  };
}
