import { sumMetrics } from '../metrics/metric-registry';

/**
 * The per-unit sums CUPED covariates are made of (docs/adr/0026): the numerator and
 * denominator columns of every built-in sum metric, as columns of baseline_unit_day and,
 * prefixed `pre_`, of outcome_unit. Each with the SQL that sums it over staged events `s`.
 */
export const BASELINE_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['events', 'count(*)'],
  ['success_n', 'count(s.success)'],
  ['successes', 'count(*) FILTER (WHERE s.success)'],
  ['score_n', 'count(s.score)'],
  ['score_sum', 'COALESCE(sum(s.score), 0)'],
  ['errors', 'count(s.error)'],
  ['latency_n', 'count(s.latency_ms)'],
  ['latency_sum', 'COALESCE(sum(s.latency_ms), 0)'],
  ['ttft_n', 'count(s.ttft_ms)'],
  ['ttft_sum', 'COALESCE(sum(s.ttft_ms), 0)'],
  ['input_tokens', 'COALESCE(sum(s.input_tokens), 0)'],
  ['input_tokens_n', 'count(s.input_tokens)'],
  ['output_tokens', 'COALESCE(sum(s.output_tokens), 0)'],
  ['output_tokens_n', 'count(s.output_tokens)'],
  ['cost_n', 'count(s.cost_usd)'],
  ['cost_sum', 'COALESCE(sum(s.cost_usd), 0)'],
];
export const PRE_COLUMNS: readonly string[] = BASELINE_COLUMNS.map((c) => c[0]);

// Every built-in sum metric has its covariate: a metric whose sums are not kept here fails at start-up.
for (const m of sumMetrics()) {
  for (const term of [m.numerator, m.denominator]) {
    if (!PRE_COLUMNS.includes(term.column)) throw new Error(`metric ${m.name}: baseline_unit_day keeps no ${term.column}`);
  }
}
