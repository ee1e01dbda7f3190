/**
 * The results of an offline evaluation run, from its per-case rows (pure: libs/stats does
 * the statistics; docs/adr/0029).
 *
 * - The unit of analysis is the case. A case answered `repetitions` times is one cluster:
 *   its repetitions are averaged first (`caseMeans`), and every interval and test works on
 *   the case means, paired between the control and the candidate by case.
 * - Evaluator errors (no reference, a judge answer that did not parse...) and failed calls
 *   leave that case out of that evaluator's comparison; they are counted, not scored.
 * - Pass/fail evaluators with one repetition: McNemar's exact test (`mcnemar_exact`);
 *   otherwise, and for scores: the paired t-test (`paired_t`). The interval of the mean
 *   paired difference is the seeded percentile bootstrap for McNemar (the difference of two
 *   pass rates is bounded and lumpy) and the paired t interval otherwise.
 * - Holm across the evaluators of each candidate.
 * - Decision (the offline stage): a candidate is `ready_for_live` when the run is complete
 *   and, for every evaluator, the lower end of the interval of (candidate - control) is
 *   above -margin (non-inferior) and no evaluator is significantly worse after Holm;
 *   otherwise `not_ready`, with the reasons in plain words.
 * - Scores (and pass/fail with repetitions) also carry the Wilcoxon signed-rank p-value of
 *   the same case-mean pairs (`wilcoxonPValue`), beside the paired t: shown, not part of the
 *   decision (docs/adr/0040).
 * - Latency, TTFT, tokens (input + output) and cost per answer get paired comparisons too
 *   (method `wilcoxon`): mean paired difference of the per-case means with the seeded
 *   bootstrap interval, Wilcoxon signed-rank p; shown but not part of the decision.
 */
import { bootstrapMeanDifference, holm, mcnemarFromOutcomes, pairedTTest, tQuantile, wilcoxonSignedRank } from '../stats';
import type { EvaluatorDefinition } from './evaluator-definition';
import { isScored, METRIC_COMPARISONS, type MetricName } from './evaluator-definition';
import type { EvaluatorOutcome } from './evaluators';

export interface CaseRow {
  variant: string;
  position: number;
  caseId: string;
  repetition: number;
  latencyMs: number | null;
  /** Time to first token (streamed answers only). */
  ttftMs?: number | null;
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  /** The call failed (after retries): no answer to score. */
  error: string | null;
  scores: Record<string, EvaluatorOutcome>;
}

export interface AnalysisInput {
  control: string;
  variants: readonly string[];
  evaluators: readonly EvaluatorDefinition[];
  rows: readonly CaseRow[];
  repetitions: number;
  /** Largest acceptable drop of a pass rate or mean score (absolute, default 0.05). */
  margin: number;
  alpha: number;
  /** The run stopped before every case was answered (cost cap). */
  partial: boolean;
}

export interface EvaluatorSummary {
  passRate?: number;
  mean?: number;
  ci: [number, number] | null;
  /** Cases scored (an evaluator error or a failed call leaves a case out). */
  cases: number;
  errors: number;
}

export interface VariantResult {
  key: string;
  /** Cases with at least one answer. */
  cases: number;
  failedCalls: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  latencyMs: { mean: number | null; p50: number | null; p95: number | null };
  /** Absent in results stored before docs/adr/0040. */
  ttftMs?: { mean: number | null; p50: number | null; p95: number | null };
  /** Mean input + output tokens per answer (answers with both counts); absent before docs/adr/0040. */
  tokensPerAnswer?: number | null;
  /** Mean cost per answer (answers with a price); absent before docs/adr/0040. */
  costPerAnswerUsd?: number | null;
  evaluators: Record<string, EvaluatorSummary>;
}

export interface WorstCase {
  caseId: string;
  control: number;
  candidate: number;
}

export interface Comparison {
  variant: string;
  evaluator: string;
  /** Mean paired difference candidate - control over the cases both scored. */
  difference: number | null;
  ci: [number, number] | null;
  pValue: number | null;
  adjustedPValue: number | null;
  /** Scores: the Wilcoxon signed-rank p of the same pairs, beside the paired t (null: every difference is zero); absent for McNemar and metrics. */
  wilcoxonPValue?: number | null;
  method: 'mcnemar_exact' | 'paired_t' | 'wilcoxon';
  pairs: number;
  nonInferior: boolean | null;
  significantlyWorse: boolean;
  /** The cases where the candidate lost most against the control. */
  worstCases: WorstCase[];
}

export { METRIC_COMPARISONS, type MetricName };

export interface RunResults {
  variants: VariantResult[];
  comparisons: Comparison[];
  decision: { action: 'ready_for_live' | 'not_ready'; reasons: string[] };
}

const BOOTSTRAP_SEED = 19;
const BOOTSTRAP_RESAMPLES = 4000;
const WORST = 5;

function mean(values: readonly number[]): number | null {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : null;
}

function quantile(values: readonly number[], q: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return sorted[lo] + (h - lo) * (sorted[Math.ceil(h)] - sorted[lo]);
}

function meanInterval(values: readonly number[], alpha: number): [number, number] | null {
  const m = mean(values);
  if (m === null || values.length < 2) return null;
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1));
  const half = tQuantile(1 - alpha / 2, values.length - 1) * (sd / Math.sqrt(values.length));
  return [m - half, m + half];
}

/** Per case position: the mean over repetitions of a numeric value (null values dropped). */
function perCase(rows: readonly CaseRow[], value: (r: CaseRow) => number | null): Map<number, number> {
  const sums = new Map<number, { sum: number; n: number }>();
  for (const r of rows) {
    const v = value(r);
    if (v === null) continue;
    const s = sums.get(r.position) ?? { sum: 0, n: 0 };
    s.sum += v;
    s.n += 1;
    sums.set(r.position, s);
  }
  return new Map([...sums].map(([k, s]) => [k, s.sum / s.n]));
}

const scoreOf = (name: string) => (r: CaseRow): number | null => {
  if (r.error) return null;
  const o = r.scores[name];
  return o && o.error === undefined && o.score !== null ? o.score : null;
};

function summarise(e: EvaluatorDefinition, rows: readonly CaseRow[], alpha: number): EvaluatorSummary {
  const values = [...perCase(rows, scoreOf(e.name)).values()];
  const errors = rows.filter((r) => !r.error && r.scores[e.name]?.error !== undefined).length;
  const m = mean(values);
  const ci = meanInterval(values, alpha);
  return { ...(isScored(e) ? { mean: m ?? undefined } : { passRate: m ?? undefined }), ci, cases: values.length, errors };
}

function compare(e: EvaluatorDefinition, candidate: string, control: readonly CaseRow[], treated: readonly CaseRow[], input: AnalysisInput): Comparison {
  const c = perCase(control, scoreOf(e.name));
  const t = perCase(treated, scoreOf(e.name));
  const positions = [...c.keys()].filter((p) => t.has(p)).sort((a, b) => a - b);
  const x = positions.map((p) => c.get(p)!);
  const y = positions.map((p) => t.get(p)!);
  const caseIds = new Map(treated.map((r) => [r.position, r.caseId]));
  const worstCases = positions
    .map((p, i) => ({ caseId: caseIds.get(p) ?? String(p), control: x[i], candidate: y[i] }))
    .filter((w) => w.candidate < w.control)
    .sort((a, b) => b.control - b.candidate - (a.control - a.candidate) || a.caseId.localeCompare(b.caseId))
    .slice(0, WORST);
  const useMcNemar = !isScored(e) && input.repetitions === 1;
  const base = { variant: candidate, evaluator: e.name, pairs: positions.length, adjustedPValue: null, worstCases, significantlyWorse: false };
  if (positions.length < 2) return { ...base, difference: null, ci: null, pValue: null, method: useMcNemar ? 'mcnemar_exact' : 'paired_t', nonInferior: null };
  const d = y.map((v, i) => v - x[i]);
  const difference = mean(d)!;
  const constant = d.every((v) => v === d[0]);
  let ci: [number, number];
  let pValue: number;
  if (useMcNemar) {
    pValue = mcnemarFromOutcomes(x.map((v) => v === 1), y.map((v) => v === 1)).pValue;
    ci = constant ? [d[0], d[0]] : bootstrapMeanDifference(x, y, { seed: BOOTSTRAP_SEED, resamples: BOOTSTRAP_RESAMPLES, confidence: 1 - input.alpha }).ci;
  } else if (constant) {
    // No spread in the differences: the difference is what it is (p = 1 when none, else 0).
    ci = [d[0], d[0]];
    pValue = d[0] === 0 ? 1 : 0;
  } else {
    const r = pairedTTest(x, y, { alpha: input.alpha });
    ci = r.ci;
    pValue = r.pValue;
  }
  if (useMcNemar) return { ...base, difference, ci, pValue, method: 'mcnemar_exact', nonInferior: ci[0] > -input.margin };
  const wilcoxonPValue = d.every((v) => v === 0) ? null : wilcoxonSignedRank(x, y).pValue;
  return { ...base, difference, ci, pValue, wilcoxonPValue, method: 'paired_t', nonInferior: ci[0] > -input.margin };
}

const METRIC_VALUE: Record<MetricName, (r: CaseRow) => number | null> = {
  latency_ms: (r) => r.latencyMs,
  ttft_ms: (r) => r.ttftMs ?? null,
  tokens: (r) => (r.inputTokens === null || r.outputTokens === null ? null : r.inputTokens + r.outputTokens),
  cost_usd: (r) => r.costUsd,
};

/**
 * A per-answer measurement of the candidate against the control, paired by case (case means
 * over repetitions; failed calls left out): mean difference, seeded bootstrap interval,
 * Wilcoxon signed-rank p. Null when fewer than 2 cases have it on both sides or every
 * difference is zero (nothing to test).
 */
function metricComparison(metric: MetricName, candidate: string, control: readonly CaseRow[], treated: readonly CaseRow[], alpha: number): Comparison | null {
  const value = (r: CaseRow) => (r.error ? null : METRIC_VALUE[metric](r));
  const c = perCase(control, value);
  const t = perCase(treated, value);
  const positions = [...c.keys()].filter((p) => t.has(p)).sort((a, b) => a - b);
  const x = positions.map((p) => c.get(p)!);
  const y = positions.map((p) => t.get(p)!);
  const d = y.map((v, i) => v - x[i]);
  if (positions.length < 2 || d.every((v) => v === 0)) return null;
  const ci: [number, number] = d.every((v) => v === d[0]) ? [d[0], d[0]] : bootstrapMeanDifference(x, y, { seed: BOOTSTRAP_SEED, resamples: BOOTSTRAP_RESAMPLES, confidence: 1 - alpha }).ci;
  return {
    variant: candidate,
    evaluator: metric,
    difference: mean(d),
    ci,
    pValue: wilcoxonSignedRank(x, y).pValue,
    adjustedPValue: null,
    method: 'wilcoxon',
    pairs: positions.length,
    nonInferior: null,
    significantlyWorse: false,
    worstCases: [],
  };
}

export function analyseRun(input: AnalysisInput): RunResults {
  const byVariant = new Map<string, CaseRow[]>(input.variants.map((v) => [v, []]));
  for (const r of input.rows) byVariant.get(r.variant)?.push(r);
  const variants: VariantResult[] = input.variants.map((key) => {
    const rows = byVariant.get(key)!;
    const ok = rows.filter((r) => !r.error);
    const latencies = ok.map((r) => r.latencyMs).filter((v): v is number => v !== null);
    const ttfts = ok.map((r) => r.ttftMs ?? null).filter((v): v is number => v !== null);
    const tokens = ok.map(METRIC_VALUE.tokens).filter((v): v is number => v !== null);
    const costs = rows.map((r) => r.costUsd).filter((v): v is number => v !== null);
    return {
      key,
      cases: new Set(ok.map((r) => r.position)).size,
      failedCalls: rows.length - ok.length,
      costUsd: rows.reduce((s, r) => s + (r.costUsd ?? 0), 0),
      inputTokens: rows.reduce((s, r) => s + (r.inputTokens ?? 0), 0),
      outputTokens: rows.reduce((s, r) => s + (r.outputTokens ?? 0), 0),
      latencyMs: { mean: mean(latencies), p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95) },
      ttftMs: { mean: mean(ttfts), p50: quantile(ttfts, 0.5), p95: quantile(ttfts, 0.95) },
      tokensPerAnswer: mean(tokens),
      costPerAnswerUsd: mean(costs),
      evaluators: Object.fromEntries(input.evaluators.map((e) => [e.name, summarise(e, rows, input.alpha)])),
    };
  });

  const comparisons: Comparison[] = [];
  const reasons: string[] = [];
  let ready = !input.partial;
  if (input.partial) reasons.push('The run is partial (it stopped at its cost cap): not every case was answered.');
  const controlRows = byVariant.get(input.control) ?? [];
  for (const candidate of input.variants.filter((v) => v !== input.control)) {
    const treated = byVariant.get(candidate)!;
    const own = input.evaluators.map((e) => compare(e, candidate, controlRows, treated, input));
    const adjusted = holm(own.map((c) => c.pValue ?? 1));
    own.forEach((c, i) => {
      c.adjustedPValue = c.pValue === null ? null : adjusted[i];
      c.significantlyWorse = c.adjustedPValue !== null && c.adjustedPValue < input.alpha && (c.difference ?? 0) < 0;
      const pct = (v: number) => `${(v * 100).toFixed(1)} points`;
      if (c.nonInferior === null) {
        ready = false;
        reasons.push(`${candidate}, ${c.evaluator}: too few cases scored by both variants (${c.pairs}) to compare.`);
      } else if (c.significantlyWorse) {
        ready = false;
        const ids = c.worstCases.map((w) => w.caseId).join(', ');
        reasons.push(`${candidate}, ${c.evaluator}: significantly worse than ${input.control} (${pct(c.difference!)}, Holm-adjusted p = ${c.adjustedPValue!.toPrecision(3)})${ids ? `; worst cases: ${ids}` : ''}.`);
      } else if (!c.nonInferior) {
        ready = false;
        reasons.push(`${candidate}, ${c.evaluator}: non-inferiority not shown: the interval reaches ${pct(c.ci![0])}, below the margin of -${pct(input.margin)}.`);
      } else {
        reasons.push(`${candidate}, ${c.evaluator}: non-inferior to ${input.control} (difference ${pct(c.difference!)}, interval from ${pct(c.ci![0])}, margin -${pct(input.margin)}).`);
      }
    });
    comparisons.push(...own);
    for (const metric of METRIC_COMPARISONS) {
      const m = metricComparison(metric, candidate, controlRows, treated, input.alpha);
      if (m) comparisons.push(m);
    }
  }
  return { variants, comparisons, decision: { action: ready ? 'ready_for_live' : 'not_ready', reasons } };
}

/**
 * The offline verdict on one candidate of a run (a run with several candidates is `not_ready`
 * as a whole when any of them is): ready when the run is complete and every evaluator's
 * comparison of this candidate is non-inferior and not significantly worse (the rule of
 * `analyseRun`, read back from the stored comparisons, so older runs need no migration).
 * Its reasons are the run's reasons about this candidate.
 */
export function candidateVerdict(results: RunResults, candidate: string, partial: boolean): { action: RunResults['decision']['action']; reasons: string[] } {
  const own = results.comparisons.filter((c) => c.variant === candidate && c.method !== 'wilcoxon');
  const ready = !partial && own.length > 0 && own.every((c) => c.nonInferior === true && !c.significantlyWorse);
  const reasons = results.decision.reasons.filter((r) => r.startsWith(`${candidate}, `) || (partial && r.startsWith('The run is partial')));
  if (!own.length) reasons.push(`${candidate}: the run compared no evaluator.`);
  return { action: ready ? 'ready_for_live' : 'not_ready', reasons };
}
