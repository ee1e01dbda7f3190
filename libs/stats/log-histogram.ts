/**
 * Mergeable log-bucket histogram (DDSketch-style, Masson, Rim & Lee 2019) for latency,
 * cost and token distributions stored per variant in Postgres as (index, count) rows.
 *
 * - Relative accuracy alpha (default 0.01): gamma = (1 + alpha)/(1 - alpha).
 * - bucketIndex(x) = ceil(log_gamma(x)) for x > 0; bucket i holds (gamma^(i-1), gamma^i].
 * - 0 goes to the zero bucket, index ZERO_BUCKET_INDEX (a sentinel no positive value can
 *   reach). Negative, NaN and infinite values are rejected with a RangeError: the
 *   metrics this serves are non-negative, and a negative one is an ingestion bug.
 * - quantile(q): DDSketch's rule. rank = q (n - 1); the first bucket whose cumulative count
 *   exceeds rank answers 2 gamma^i/(gamma + 1), which is within relative error alpha of the
 *   exact order statistic x_(floor(q (n - 1))) (0-based).
 * - quantileBounds(q): the edges of that bucket, for intervals (quantileSummary): the order
 *   statistic lies between them whatever the values inside the bucket are.
 * - Histograms with the same alpha merge by adding counts (associative, commutative).
 */
import { StatsInputError } from './stats-input.error';

export const ZERO_BUCKET_INDEX = -2147483648;
export const DEFAULT_RELATIVE_ACCURACY = 0.01;

export function gammaOf(relativeAccuracy = DEFAULT_RELATIVE_ACCURACY): number {
  if (!(relativeAccuracy > 0 && relativeAccuracy < 1)) throw new StatsInputError('relative accuracy must be in (0, 1)');
  return (1 + relativeAccuracy) / (1 - relativeAccuracy);
}

/** Bucket index of a value; the ingestion worker stores (index, count) rows with it. */
export function bucketIndex(value: number, relativeAccuracy = DEFAULT_RELATIVE_ACCURACY): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`bucketIndex: value must be finite and >= 0, got ${value}`);
  if (value === 0) return ZERO_BUCKET_INDEX;
  return Math.ceil(Math.log(value) / Math.log(gammaOf(relativeAccuracy)));
}

/** Representative value of a bucket: 2 gamma^i/(gamma + 1) (0 for the zero bucket). */
export function bucketValue(index: number, relativeAccuracy = DEFAULT_RELATIVE_ACCURACY): number {
  if (index === ZERO_BUCKET_INDEX) return 0;
  const g = gammaOf(relativeAccuracy);
  return (2 * Math.pow(g, index)) / (g + 1);
}

export interface BucketRow {
  index: number;
  count: number;
}

export class LogHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;

  constructor(readonly relativeAccuracy = DEFAULT_RELATIVE_ACCURACY) {
    gammaOf(relativeAccuracy);
  }

  static fromValues(values: readonly number[], relativeAccuracy = DEFAULT_RELATIVE_ACCURACY): LogHistogram {
    const h = new LogHistogram(relativeAccuracy);
    for (const v of values) h.add(v);
    return h;
  }

  /** Rebuilds a histogram from stored (index, count) rows; repeated indices add up. */
  static fromRows(rows: readonly BucketRow[], relativeAccuracy = DEFAULT_RELATIVE_ACCURACY): LogHistogram {
    const h = new LogHistogram(relativeAccuracy);
    for (const r of rows) h.addToBucket(r.index, r.count);
    return h;
  }

  /** Merges any number of histograms with the same relative accuracy into a new one. */
  static merge(...parts: LogHistogram[]): LogHistogram {
    const acc = parts[0]?.relativeAccuracy ?? DEFAULT_RELATIVE_ACCURACY;
    const h = new LogHistogram(acc);
    for (const p of parts) {
      if (p.relativeAccuracy !== acc) throw new StatsInputError('cannot merge histograms with different relative accuracy');
      for (const r of p.rows()) h.addToBucket(r.index, r.count);
    }
    return h;
  }

  add(value: number, count = 1): this {
    return this.addToBucket(bucketIndex(value, this.relativeAccuracy), count);
  }

  addToBucket(index: number, count: number): this {
    if (!Number.isInteger(index) || !(count >= 0) || !Number.isInteger(count)) throw new StatsInputError('bucket rows need an integer index and a non-negative integer count');
    if (count === 0) return this;
    this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    this.total += count;
    return this;
  }

  get count(): number {
    return this.total;
  }

  /** (index, count) rows sorted by index (the zero bucket first). */
  rows(): BucketRow[] {
    return [...this.counts.entries()].sort((a, b) => a[0] - b[0]).map(([index, count]) => ({ index, count }));
  }

  /** Quantile at level q in [0, 1], DDSketch rule (see file comment). */
  quantile(q: number): number {
    return bucketValue(this.bucketAt(q), this.relativeAccuracy);
  }

  /**
   * The range the order statistic behind quantile(q) lies in: the edges (gamma^(i-1), gamma^i]
   * of its bucket ([0, 0] for the zero bucket). An interval built from these never claims more
   * precision than the sketch has, however tightly the values cluster.
   */
  quantileBounds(q: number): [number, number] {
    const index = this.bucketAt(q);
    if (index === ZERO_BUCKET_INDEX) return [0, 0];
    const g = gammaOf(this.relativeAccuracy);
    return [Math.pow(g, index - 1), Math.pow(g, index)];
  }

  /** Index of the bucket that holds rank q (n - 1). */
  private bucketAt(q: number): number {
    if (this.total === 0) throw new StatsInputError('quantile of an empty histogram');
    if (!(q >= 0 && q <= 1)) throw new StatsInputError('quantile level must be in [0, 1]');
    const rank = q * (this.total - 1);
    let cum = 0;
    const rows = this.rows();
    for (const r of rows) {
      cum += r.count;
      if (cum > rank) return r.index;
    }
    return rows[rows.length - 1].index;
  }
}

/** A fixed-edge histogram bucket (lower, upper] with its count, as BI tools export them. */
export interface EdgeBucket {
  lower: number;
  upper: number;
  count: number;
}

/** Fixed-edge buckets from edges e_0 < ... < e_k and k counts. */
export function edgeBuckets(edges: readonly number[], counts: readonly number[]): EdgeBucket[] {
  if (edges.length !== counts.length + 1) throw new StatsInputError('need one more edge than counts');
  return counts.map((count, i) => ({ lower: edges[i], upper: edges[i + 1], count }));
}

/** Quantile of a fixed-edge histogram by linear interpolation of the CDF inside the bucket that holds rank q n. */
export function quantileFromBuckets(buckets: readonly EdgeBucket[], q: number): number {
  const n = buckets.reduce((s, b) => s + b.count, 0);
  if (n === 0) throw new StatsInputError('quantile of an empty histogram');
  const target = Math.min(1, Math.max(0, q)) * n;
  let cum = 0;
  for (const b of buckets) {
    if (b.count > 0 && cum + b.count >= target) return b.lower + ((target - cum) / b.count) * (b.upper - b.lower);
    cum += b.count;
  }
  return buckets[buckets.length - 1].upper;
}
