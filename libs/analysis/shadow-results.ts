/**
 * The shadow section of the results (docs/adr/0031): per shadow variant, paired comparisons of
 * the shadow's answers against what was served for the same calls, and the agreement of the
 * two answers. Pure: the sums come from AnalysisStore.shadowPairs (SQL over the pairs, so that no
 * pair is loaded one by one).
 */
import { mcnemarExact, pairedTFromMoments, StatsInputError, wilsonInterval } from '../stats';
/** A two-sided interval (as results.types' Interval; not imported, which would make a cycle). */
type Interval = [number, number];

/** Compared per pair: shadow value - served value. `error` is 1 for a call with an error class, else 0. */
export const SHADOW_METRICS = ['latency_ms', 'ttft_ms', 'input_tokens', 'output_tokens', 'cost_usd', 'error_rate'] as const;
export type ShadowMetric = (typeof SHADOW_METRICS)[number];

/** Sums over the pairs where both values are known. */
export interface PairSums {
  n: number;
  /** Sum of the served values and of the shadow values. */
  served: number;
  shadow: number;
  /** Sum of the differences (shadow - served) and of their squares. */
  d: number;
  dd: number;
}

export interface ShadowRow {
  variant: string;
  /** Shadow outcomes recorded. */
  shadows: number;
  /** Of them, those whose served call's outcome is stored (the pairs). */
  pairs: number;
  metrics: Record<ShadowMetric, PairSums>;
  /** Error rate only: pairs where only the served call failed (b) and only the shadow failed (c). */
  onlyServedFailed: number;
  onlyShadowFailed: number;
  exact: { n: number; matches: number };
  json: { n: number; matches: number };
}

export interface ShadowComparison {
  metric: ShadowMetric;
  /** Pairs where both values are known. */
  n: number;
  servedMean: number | null;
  shadowMean: number | null;
  /** Mean of shadow - served; for error_rate, shadow rate - served rate. */
  difference: number | null;
  /** difference / servedMean (null when the served mean is 0 or unknown). */
  relativeDifference: number | null;
  ci: Interval | null;
  pValue: number | null;
  method: 'paired_t' | 'mcnemar_exact';
}

export interface AgreementRate {
  /** Pairs where the comparison could be made. */
  n: number;
  rate: number | null;
  /** Wilson interval at 1 - alpha. */
  ci: Interval | null;
}

export interface ShadowResult {
  variant: string;
  /** The variant is the experiment's shadow now (false: the shadow was changed or removed; its evidence stays). */
  active: boolean;
  sampleRate: number | null;
  shadows: number;
  pairs: number;
  /** Copies not sent because the gateway's bound was reached: counted per replica in GET /metrics (verdict_gateway_shadow_dropped_total), not here. */
  dropped: null;
  comparisons: ShadowComparison[];
  agreement: { exact: AgreementRate; json: AgreementRate };
}

function rate(n: number, matches: number, alpha: number): AgreementRate {
  if (n === 0) return { n, rate: null, ci: null };
  return { n, rate: matches / n, ci: wilsonInterval(matches, n, alpha) };
}

function compare(metric: ShadowMetric, s: PairSums, alpha: number, row: ShadowRow): ShadowComparison {
  const servedMean = s.n > 0 ? s.served / s.n : null;
  const shadowMean = s.n > 0 ? s.shadow / s.n : null;
  const difference = s.n > 0 ? s.d / s.n : null;
  const relativeDifference = difference !== null && servedMean ? difference / servedMean : null;
  const method = metric === 'error_rate' ? 'mcnemar_exact' : 'paired_t';
  let ci: Interval | null = null;
  let pValue: number | null = null;
  try {
    const t = pairedTFromMoments({ n: s.n, sum: s.d, sumSquares: s.dd }, { alpha });
    ci = t.ci;
    pValue = t.pValue;
  } catch (error) {
    if (!(error instanceof StatsInputError)) throw error;
    // Fewer than two pairs, or every difference equal: the difference is exact when every pair agrees, otherwise unknown.
    if (s.n >= 2 && difference !== null) ci = [difference, difference];
  }
  if (metric === 'error_rate' && s.n > 0) pValue = mcnemarExact(row.onlyServedFailed, row.onlyShadowFailed).pValue;
  return { metric, n: s.n, servedMean, shadowMean, difference, relativeDifference, ci, pValue, method };
}

/** The shadow section from the stored pairs' sums; `current` is the experiment's shadow setting now. */
export function shadowResults(rows: readonly ShadowRow[], current: { variant: string; sampleRate: number } | null, alpha: number): ShadowResult[] {
  const results = rows.map(
    (row): ShadowResult => ({
      variant: row.variant,
      active: current?.variant === row.variant,
      sampleRate: current?.variant === row.variant ? current.sampleRate : null,
      shadows: row.shadows,
      pairs: row.pairs,
      dropped: null,
      comparisons: SHADOW_METRICS.map((m) => compare(m, row.metrics[m], alpha, row)),
      agreement: { exact: rate(row.exact.n, row.exact.matches, alpha), json: rate(row.json.n, row.json.matches, alpha) },
    }),
  );
  if (current && !results.some((r) => r.variant === current.variant)) {
    const empty: PairSums = { n: 0, served: 0, shadow: 0, d: 0, dd: 0 };
    const none: ShadowRow = { variant: current.variant, shadows: 0, pairs: 0, metrics: Object.fromEntries(SHADOW_METRICS.map((m) => [m, empty])) as ShadowRow['metrics'], onlyServedFailed: 0, onlyShadowFailed: 0, exact: { n: 0, matches: 0 }, json: { n: 0, matches: 0 } };
    results.unshift({ ...shadowResults([none], current, alpha)[0] });
  }
  // The active shadow first.
  return results.sort((a, b) => Number(b.active) - Number(a.active));
}
