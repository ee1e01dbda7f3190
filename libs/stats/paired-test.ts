/**
 * Paired tests for offline evaluations: every case of a dataset is answered by the
 * control and by the candidate, so the two arms are paired by case and the tests work on
 * per-case differences d_i = candidate_i - control_i (never on two independent samples).
 *
 * Conventions (scipy 1.17, checked against `reference/scipy_paired_cases.json`):
 * - McNemar: the exact form only, a two-sided binomial test of the discordant pairs
 *   against 1/2 (scipy `binomtest(min(b, c), b + c)`, statsmodels `mcnemar(exact=True)`);
 *   no discordant pair gives p = 1.
 * - Paired t: scipy `ttest_rel(candidate, control)`, dof n - 1.
 * - Wilcoxon signed-rank: scipy defaults. Zero differences are dropped before ranking
 *   (`zero_method='wilcox'`), tied |d| get average ranks, no continuity correction unless
 *   asked. `method: 'auto'` picks as scipy does: `exact` null distribution when the pairs
 *   (zeros included) are at most 50 and there are no ties and no zeros; otherwise an exact
 *   `permutation` over all 2^n sign flips when n <= 13; otherwise `asymptotic` (normal with
 *   the tie correction). The two-sided statistic is min(R+, R-), a one-sided one is R+.
 * - Repetitions: a case answered r times is one cluster. `caseMeans` averages the
 *   repetitions of each case first and every test then runs on the case means (n = cases),
 *   which is valid whatever the correlation within a case; treating repetitions as
 *   separate pairs would overstate n (see the reference case's naive p-value).
 * - Bootstrap: percentile interval of the mean difference, resampling cases with a seeded
 *   MT19937 (`seededRng`), so the same seed gives the same interval.
 */
import { normalCdf, tCdf, tQuantile } from './distributions';
import { Alternative, Effect } from './effect';
import { MarginTestResult, nonInferiorityTest } from './margin-test';
import { seededRng } from './rng';
import { StatsInputError } from './stats-input.error';

function checkFinite(values: readonly number[], label: string): void {
  for (const v of values) {
    if (!Number.isFinite(v)) throw new StatsInputError(`${label} must hold finite numbers`);
  }
}

/** d_i = candidate_i - control_i; both arrays must be the same length and finite. */
export function pairedDifferences(control: readonly number[], candidate: readonly number[]): number[] {
  if (control.length !== candidate.length) throw new StatsInputError('paired samples must have the same length');
  checkFinite(control, 'control');
  checkFinite(candidate, 'candidate');
  return candidate.map((c, i) => c - control[i]);
}

/** Averages the repetitions of each case: rows[i] holds case i's repeated values. */
export function caseMeans(rows: readonly (readonly number[])[]): number[] {
  return rows.map((row, i) => {
    if (row.length === 0) throw new StatsInputError(`case ${i} has no value`);
    checkFinite(row, `case ${i}`);
    return row.reduce((s, v) => s + v, 0) / row.length;
  });
}

export interface McNemarResult {
  /** Cases the control passed and the candidate failed (b). */
  onlyControl: number;
  /** Cases the candidate passed and the control failed (c). */
  onlyCandidate: number;
  /** Two-sided exact p-value. */
  pValue: number;
}

/** Two-sided exact binomial test of x successes in n trials against 1/2 (symmetric, so 2 P(X <= min)). */
function binomialHalfTwoSided(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  // P(X <= k) for X ~ Bin(n, 1/2) summed in log space from exact binomial coefficients.
  let logCoef = 0; // log C(n, 0)
  let sum = 0;
  for (let j = 0; j <= k; j++) {
    if (j > 0) logCoef += Math.log(n - j + 1) - Math.log(j);
    sum += Math.exp(logCoef - n * Math.LN2);
  }
  return Math.min(1, 2 * sum);
}

/** McNemar's exact test from the two discordant counts. */
export function mcnemarExact(onlyControl: number, onlyCandidate: number): McNemarResult {
  for (const v of [onlyControl, onlyCandidate]) {
    if (!Number.isInteger(v) || v < 0) throw new StatsInputError('discordant counts must be non-negative integers');
  }
  return { onlyControl, onlyCandidate, pValue: binomialHalfTwoSided(onlyControl, onlyCandidate) };
}

/** McNemar's exact test from per-case pass/fail of control and candidate (same case order). */
export function mcnemarFromOutcomes(control: readonly boolean[], candidate: readonly boolean[]): McNemarResult {
  if (control.length !== candidate.length) throw new StatsInputError('paired samples must have the same length');
  let b = 0;
  let c = 0;
  control.forEach((passed, i) => {
    if (passed && !candidate[i]) b++;
    if (!passed && candidate[i]) c++;
  });
  return mcnemarExact(b, c);
}

export interface PairedTOptions {
  alpha?: number;
  alternative?: Alternative;
}

export interface PairedTResult {
  n: number;
  meanDifference: number;
  se: number;
  statistic: number;
  dof: number;
  pValue: number;
  /** (1 - alpha) interval for the mean difference (one-sided alternatives give a half-line). */
  ci: [number, number];
}

function meanAndSe(d: readonly number[]): { mean: number; se: number } {
  const n = d.length;
  if (n < 2) throw new StatsInputError('a paired test needs at least 2 pairs');
  const mean = d.reduce((s, v) => s + v, 0) / n;
  const ss = d.reduce((s, v) => s + (v - mean) * (v - mean), 0);
  const se = Math.sqrt(ss / (n - 1) / n);
  if (!(se > 0)) throw new StatsInputError('paired differences have zero variance');
  return { mean, se };
}

/** The mean paired difference as an `Effect` (absolute, dof n - 1), for margin tests. */
export function pairedEffect(control: readonly number[], candidate: readonly number[]): Effect {
  const d = pairedDifferences(control, candidate);
  const { mean, se } = meanAndSe(d);
  return { estimate: mean, se, dof: d.length - 1, n: d.length, difference: 'absolute', baseline: control.reduce((s, v) => s + v, 0) / control.length };
}

/** Paired t-test of candidate - control (scipy `ttest_rel(candidate, control)`). */
export function pairedTTest(control: readonly number[], candidate: readonly number[], options: PairedTOptions = {}): PairedTResult {
  const d = pairedDifferences(control, candidate);
  const { mean, se } = meanAndSe(d);
  const alpha = options.alpha ?? 0.05;
  const alternative = options.alternative ?? 'two-sided';
  const dof = d.length - 1;
  const statistic = mean / se;
  let pValue: number;
  let ci: [number, number];
  if (alternative === 'greater') {
    pValue = tCdf(-statistic, dof);
    ci = [mean - tQuantile(1 - alpha, dof) * se, Infinity];
  } else if (alternative === 'less') {
    pValue = tCdf(statistic, dof);
    ci = [-Infinity, mean + tQuantile(1 - alpha, dof) * se];
  } else {
    pValue = Math.min(1, 2 * tCdf(-Math.abs(statistic), dof));
    const q = tQuantile(1 - alpha / 2, dof);
    ci = [mean - q * se, mean + q * se];
  }
  return { n: d.length, meanDifference: mean, se, statistic, dof, pValue, ci };
}

export interface PairedNonInferiorityOptions {
  /** Absolute margin in the metric's units (> 0): the candidate may be worse by less than this. */
  margin: number;
  alpha?: number;
  /** Latency or cost: the candidate is "worse" when its value is higher. */
  lowerIsBetter?: boolean;
}

/**
 * Paired non-inferiority: H0 the candidate is worse by the margin or more. Higher is
 * better: H0 mean(d) <= -margin, t = (mean(d) + margin)/se with dof n - 1 (scipy
 * `ttest_1samp(d, -margin, alternative='greater')`).
 */
export function pairedNonInferiority(control: readonly number[], candidate: readonly number[], options: PairedNonInferiorityOptions): MarginTestResult {
  return nonInferiorityTest(pairedEffect(control, candidate), {
    margin: options.margin,
    alpha: options.alpha,
    lowerIsBetter: options.lowerIsBetter,
    distribution: 't',
  });
}

export type WilcoxonMethod = 'exact' | 'permutation' | 'asymptotic';

export interface WilcoxonOptions {
  alternative?: Alternative;
  /** 'auto' (default) chooses as scipy does; see the file comment. */
  method?: WilcoxonMethod | 'auto';
  /** Continuity correction of the normal approximation (scipy default false). */
  correction?: boolean;
}

export interface WilcoxonResult {
  /** min(R+, R-) for two-sided, R+ otherwise (scipy's reported statistic). */
  statistic: number;
  rPlus: number;
  rMinus: number;
  /** Non-zero differences ranked. */
  n: number;
  /** The normal statistic (only for the asymptotic method; -|z| when two-sided, as scipy). */
  z?: number;
  pValue: number;
  method: WilcoxonMethod;
}

/** Average ranks of |d| over the non-zero differences, and the tie-group sizes. */
function signedRanks(d: readonly number[]): { rPlus: number; rMinus: number; n: number; ties: number[] } {
  const nonZero = d.filter((v) => v !== 0);
  const order = nonZero.map((_, i) => i).sort((a, b) => Math.abs(nonZero[a]) - Math.abs(nonZero[b]));
  const ranks = new Array<number>(nonZero.length);
  const ties: number[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && Math.abs(nonZero[order[j + 1]]) === Math.abs(nonZero[order[i]])) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[order[k]] = rank;
    ties.push(j - i + 1);
    i = j + 1;
  }
  let rPlus = 0;
  let rMinus = 0;
  nonZero.forEach((v, i) => {
    if (v > 0) rPlus += ranks[i];
    else rMinus += ranks[i];
  });
  return { rPlus, rMinus, n: nonZero.length, ties };
}

/** Exact null distribution of R+ for n untied non-zero ranks: counts[k] = #subsets of 1..n summing to k. */
function signedRankCounts(n: number): number[] {
  const max = (n * (n + 1)) / 2;
  const counts = new Array<number>(max + 1).fill(0);
  counts[0] = 1;
  for (let r = 1; r <= n; r++) {
    for (let k = max; k >= r; k--) counts[k] += counts[k - r];
  }
  return counts;
}

function exactPValue(rPlus: number, n: number, alternative: Alternative): number {
  const counts = signedRankCounts(n);
  const total = 2 ** n;
  const cdf = (k: number): number => counts.slice(0, Math.max(0, k + 1)).reduce((s, v) => s + v, 0) / total;
  const sf = (k: number): number => counts.slice(Math.max(0, k)).reduce((s, v) => s + v, 0) / total;
  if (alternative === 'less') return cdf(Math.ceil(rPlus));
  if (alternative === 'greater') return sf(Math.floor(rPlus));
  return Math.min(1, 2 * Math.min(sf(Math.floor(rPlus)), cdf(Math.ceil(rPlus))));
}

/** All 2^n sign flips of d (scipy's exact permutation test; its 100 eps tolerance on ties of the statistic). */
function permutationPValue(d: readonly number[], observed: number, alternative: Alternative): number {
  const n = d.length;
  const total = 2 ** n;
  const gamma = Math.abs(observed) * Number.EPSILON * 100;
  let lessOrEqual = 0;
  let greaterOrEqual = 0;
  const flipped = new Array<number>(n);
  for (let mask = 0; mask < total; mask++) {
    for (let i = 0; i < n; i++) flipped[i] = mask & (1 << i) ? -d[i] : d[i];
    const r = signedRanks(flipped).rPlus;
    if (r <= observed + gamma) lessOrEqual++;
    if (r >= observed - gamma) greaterOrEqual++;
  }
  const less = lessOrEqual / total;
  const greater = greaterOrEqual / total;
  if (alternative === 'less') return less;
  if (alternative === 'greater') return greater;
  return Math.min(1, 2 * Math.min(less, greater));
}

/** Wilcoxon signed-rank test of candidate - control, with scipy 1.17's conventions. */
export function wilcoxonSignedRank(control: readonly number[], candidate: readonly number[], options: WilcoxonOptions = {}): WilcoxonResult {
  const d = pairedDifferences(control, candidate);
  const alternative = options.alternative ?? 'two-sided';
  const { rPlus, rMinus, n, ties } = signedRanks(d);
  if (n === 0) throw new StatsInputError('every paired difference is zero');
  const hasTies = ties.some((t) => t > 1);
  const zeros = d.length - n;
  let method: WilcoxonMethod;
  if (options.method === undefined || options.method === 'auto') {
    if (d.length > 50) method = 'asymptotic';
    else if (!hasTies && zeros === 0) method = 'exact';
    else method = d.length <= 13 ? 'permutation' : 'asymptotic';
  } else {
    method = options.method;
  }
  if (method === 'permutation' && d.length > 20) throw new StatsInputError('the permutation method enumerates 2^n sign flips; use it for n <= 20');
  if (method === 'exact' && n > 1000) throw new StatsInputError('the exact method is meant for small samples');
  const statistic = alternative === 'two-sided' ? Math.min(rPlus, rMinus) : rPlus;
  if (method === 'exact') return { statistic, rPlus, rMinus, n, method, pValue: exactPValue(rPlus, n, alternative) };
  if (method === 'permutation') return { statistic, rPlus, rMinus, n, method, pValue: permutationPValue(d, rPlus, alternative) };
  const mean = (n * (n + 1)) / 4;
  const tieCorrection = ties.reduce((s, t) => s + t ** 3 - t, 0);
  const se = Math.sqrt((n * (n + 1) * (2 * n + 1) - tieCorrection / 2) / 24);
  let z = (rPlus - mean) / se;
  if (options.correction) {
    const sign = alternative === 'two-sided' ? Math.sign(z) : alternative === 'greater' ? 1 : -1;
    z -= (sign * 0.5) / se;
  }
  let pValue: number;
  if (alternative === 'greater') pValue = 1 - normalCdf(z);
  else if (alternative === 'less') pValue = normalCdf(z);
  else pValue = Math.min(1, 2 * normalCdf(-Math.abs(z)));
  return { statistic, rPlus, rMinus, n, method, z: alternative === 'two-sided' ? -Math.abs(z) : z, pValue };
}

export interface BootstrapOptions {
  seed: number;
  /** Resamples, default 10 000. */
  resamples?: number;
  /** Default 0.95. */
  confidence?: number;
}

export interface BootstrapResult {
  meanDifference: number;
  ci: [number, number];
  standardError: number;
}

/** Quantile of sorted values by linear interpolation (numpy's default, as scipy's percentile bootstrap). */
function sortedQuantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Percentile bootstrap interval of the mean paired difference, resampling cases (seeded). */
export function bootstrapMeanDifference(control: readonly number[], candidate: readonly number[], options: BootstrapOptions): BootstrapResult {
  const d = pairedDifferences(control, candidate);
  const n = d.length;
  if (n < 2) throw new StatsInputError('a bootstrap needs at least 2 pairs');
  const resamples = options.resamples ?? 10_000;
  const confidence = options.confidence ?? 0.95;
  if (!(resamples >= 100 && resamples <= 1_000_000)) throw new StatsInputError('resamples must be between 100 and 1 000 000');
  if (!(confidence > 0 && confidence < 1)) throw new StatsInputError('confidence must be in (0, 1)');
  const rng = seededRng(options.seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += d[Math.floor(rng.uniform() * n)];
    means[b] = sum / n;
  }
  means.sort();
  const sorted = Array.from(means);
  const mean = d.reduce((s, v) => s + v, 0) / n;
  const bootMean = sorted.reduce((s, v) => s + v, 0) / resamples;
  const standardError = Math.sqrt(sorted.reduce((s, v) => s + (v - bootMean) ** 2, 0) / (resamples - 1));
  const tail = (1 - confidence) / 2;
  return { meanDifference: mean, ci: [sortedQuantile(sorted, tail), sortedQuantile(sorted, 1 - tail)], standardError };
}

/**
 * Paired t-test of candidate - control from the sufficient statistics of the differences
 * (`MomentStats` of d_i: n, sum, raw sum of squares), so that pairs can be summed in SQL and
 * never loaded one by one (the gateway's shadow pairs, docs/adr/0031). Same result as
 * `pairedTTest` on the pairs, up to rounding of the raw sum of squares; n < 2 or zero variance throws.
 */
export function pairedTFromMoments(d: { n: number; sum: number; sumSquares: number }, options: PairedTOptions = {}): PairedTResult {
  const { n, sum, sumSquares } = d;
  if (!Number.isInteger(n) || n < 2) throw new StatsInputError('a paired test needs at least 2 pairs');
  if (!Number.isFinite(sum) || !Number.isFinite(sumSquares)) throw new StatsInputError('sums must be finite');
  const mean = sum / n;
  const ss = Math.max(0, sumSquares - n * mean * mean);
  const se = Math.sqrt(ss / (n - 1) / n);
  if (!(se > 0)) throw new StatsInputError('paired differences have zero variance');
  const alpha = options.alpha ?? 0.05;
  const dof = n - 1;
  const statistic = mean / se;
  const q = tQuantile(1 - alpha / 2, dof);
  return { n, meanDifference: mean, se, statistic, dof, pValue: Math.min(1, 2 * tCdf(-Math.abs(statistic), dof)), ci: [mean - q * se, mean + q * se] };
}
