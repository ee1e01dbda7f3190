import { expectClose, pairedCase } from '../stats/reference-cases';
import { parseEvaluators } from './evaluator-definition';
import { analyseRun, candidateVerdict, type CaseRow } from './run-analysis';

const { evaluators } = parseEvaluators([{ type: 'exact' }, { type: 'similarity', name: 'sim', threshold: 0.5 }]);

function rows(variant: string, pass: number[], sim: number[], latency: (i: number) => number, reps = 1): CaseRow[] {
  return pass.flatMap((p, i) =>
    Array.from({ length: reps }, (_, repetition) => ({
      variant,
      position: i,
      caseId: `c${i}`,
      repetition,
      latencyMs: latency(i) + repetition,
      costUsd: 0.001,
      inputTokens: 10,
      outputTokens: 5,
      error: null,
      scores: { exact: { passed: p === 1, score: p }, sim: { passed: sim[i] >= 0.5, score: sim[i] } },
    })),
  );
}

describe('offline run analysis', () => {
  const c = pairedCase('mcnemar_exact_pass_fail');
  const control: number[] = c.inputs.control;
  const candidate: number[] = c.inputs.candidate;
  const simC = control.map((v, i) => (v ? 0.9 : 0.4) + (i % 7) / 100);
  const simT = candidate.map((v, i) => (v ? 0.88 : 0.35) + (i % 5) / 100);

  it('pass rates equal the per-case data, McNemar equals scipy, and a clear regression is not ready with its worst cases', () => {
    const r = analyseRun({
      control: 'big',
      variants: ['big', 'small'],
      evaluators,
      rows: [...rows('big', control, simC, (i) => 900 + i), ...rows('small', candidate, simT, (i) => 300 + (i % 3))],
      repetitions: 1,
      margin: 0.05,
      alpha: 0.05,
      partial: false,
    });
    const big = r.variants.find((v) => v.key === 'big')!;
    const small = r.variants.find((v) => v.key === 'small')!;
    expect(big.evaluators.exact.passRate).toBeCloseTo(c.expected.passRateControl, 12);
    expect(small.evaluators.exact.passRate).toBeCloseTo(c.expected.passRateCandidate, 12);
    expect(small.costUsd).toBeCloseTo(0.08, 12);
    const exact = r.comparisons.find((x) => x.evaluator === 'exact')!;
    expect(exact.method).toBe('mcnemar_exact');
    expectClose(exact.pValue!, c.expected.pValue, 1e-9);
    expect(exact.difference).toBeCloseTo(c.expected.passRateCandidate - c.expected.passRateControl, 12);
    expect(exact.ci![0]).toBeLessThan(exact.difference!);
    expect(exact.ci![1]).toBeLessThanOrEqual(0);
    expect(exact.significantlyWorse).toBe(true);
    expect(exact.worstCases).toHaveLength(5);
    const wrong = candidate.map((v, i) => (control[i] === 1 && v === 0 ? `c${i}` : null)).filter(Boolean);
    for (const w of exact.worstCases) expect(wrong).toContain(w.caseId);
    const sim = r.comparisons.find((x) => x.evaluator === 'sim')!;
    expect(sim.method).toBe('paired_t');
    expect(r.comparisons.find((x) => x.evaluator === 'latency_ms')).toMatchObject({ method: 'wilcoxon', pairs: 80 });
    expect(r.decision.action).toBe('not_ready');
    expect(r.decision.reasons.join(' ')).toContain('small, exact: significantly worse than big');
  });

  it('is ready for live when the candidate answers as well, and not when the run is partial', () => {
    const base = { control: 'big', variants: ['big', 'small'], evaluators, repetitions: 1, margin: 0.05, alpha: 0.05 };
    const same = [...rows('big', control, simC, (i) => 900 + i), ...rows('small', control, simC, (i) => 300 + i)];
    const r = analyseRun({ ...base, rows: same, partial: false });
    expect(r.decision.action).toBe('ready_for_live');
    expect(r.comparisons.find((x) => x.evaluator === 'exact')).toMatchObject({ difference: 0, ci: [0, 0], pValue: 1, nonInferior: true });
    const partial = analyseRun({ ...base, rows: same, partial: true }).decision;
    expect(partial.action).toBe('not_ready');
    expect(partial.reasons[0]).toContain('partial');
  });

  it('averages repetitions per case before a paired t-test, and leaves evaluator errors out', () => {
    const big = rows('big', control.slice(0, 20), simC.slice(0, 20), () => 500, 3);
    const small = rows('small', candidate.slice(0, 20), simT.slice(0, 20), () => 200, 3);
    small[0].scores.exact = { passed: null, score: null, error: "the judge's answer does not parse" };
    const r = analyseRun({ control: 'big', variants: ['big', 'small'], evaluators, rows: [...big, ...small], repetitions: 3, margin: 0.05, alpha: 0.05, partial: false });
    const exact = r.comparisons.find((x) => x.evaluator === 'exact')!;
    expect(exact.method).toBe('paired_t');
    expect(exact.pairs).toBe(20);
    expect(r.variants.find((v) => v.key === 'small')!.evaluators.exact.errors).toBe(1);
  });
});

describe('candidateVerdict: one candidate of a run (docs/adr/0035)', () => {
  const same = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
  const worse = same.map((v, i) => (i < 8 ? 0 : v));
  const sim = same.map(() => 0.9);
  const run = analyseRun({
    control: 'big',
    variants: ['big', 'good', 'bad'],
    evaluators,
    rows: [...rows('big', same, sim, () => 100), ...rows('good', same, sim, () => 50), ...rows('bad', worse, sim, () => 50)],
    repetitions: 1,
    margin: 0.05,
    alpha: 0.05,
    partial: false,
  });

  it('splits a run that is not ready as a whole into a ready and a not-ready candidate, each with its own reasons', () => {
    expect(run.decision.action).toBe('not_ready');
    const good = candidateVerdict(run, 'good', false);
    expect(good.action).toBe('ready_for_live');
    expect(good.reasons.length).toBe(2);
    expect(good.reasons.every((r) => r.startsWith('good, '))).toBe(true);
    const bad = candidateVerdict(run, 'bad', false);
    expect(bad.action).toBe('not_ready');
    expect(bad.reasons.some((r) => /^bad, exact: significantly worse than big/.test(r))).toBe(true);
    expect(bad.reasons.every((r) => r.startsWith('bad, '))).toBe(true);
  });

  it('a partial run is never ready, and a variant the run did not compare is not ready either', () => {
    expect(candidateVerdict(run, 'good', true).action).toBe('not_ready');
    expect(candidateVerdict(run, 'other', false)).toEqual({ action: 'not_ready', reasons: ['other: the run compared no evaluator.'] });
  });
});

describe('Wilcoxon beside paired t for scores, and paired comparisons of latency, TTFT, tokens and cost (docs/adr/0040)', () => {
  // Per-case data of the scipy reference cases, placed where the analysis reads them:
  // scores from wilcoxon_exact_scores, latency from wilcoxon_ties_zeros_asymptotic, TTFT from
  // paired_t_latency, tokens from wilcoxon_ties_zeros_permutation (x 4: whole tokens, same ranks),
  // cost from bootstrap_mean_paired_difference_cost. Each field is cut to the shortest case.
  const scores = pairedCase('wilcoxon_exact_scores');
  const latency = pairedCase('wilcoxon_ties_zeros_asymptotic');
  const ttft = pairedCase('paired_t_latency');
  const tokens = pairedCase('wilcoxon_ties_zeros_permutation');
  const cost = pairedCase('bootstrap_mean_paired_difference_cost');
  const simOnly = parseEvaluators([{ type: 'similarity', name: 'sim', threshold: 0.5 }]).evaluators;

  function measured(variant: string, side: 'control' | 'candidate', n: number, field: 'score' | 'latencyMs' | 'ttftMs' | 'tokens' | 'costUsd'): CaseRow[] {
    const src = { score: scores, latencyMs: latency, ttftMs: ttft, tokens, costUsd: cost }[field].inputs[side] as number[];
    return Array.from({ length: n }, (_, i) => ({
      variant,
      position: i,
      caseId: `c${i}`,
      repetition: 0,
      latencyMs: field === 'latencyMs' ? src[i] : 100,
      ttftMs: field === 'ttftMs' ? src[i] : 10,
      costUsd: field === 'costUsd' ? src[i] : 0.001,
      inputTokens: field === 'tokens' ? 4 * src[i] : 10,
      outputTokens: field === 'tokens' ? 0 : 5,
      error: null,
      scores: { sim: { passed: true, score: field === 'score' ? src[i] : 0.9 } },
    }));
  }

  function run(field: Parameters<typeof measured>[3], n: number) {
    return analyseRun({ control: 'big', variants: ['big', 'small'], evaluators: simOnly, rows: [...measured('big', 'control', n, field), ...measured('small', 'candidate', n, field)], repetitions: 1, margin: 0.05, alpha: 0.05, partial: false });
  }
  const find = (r: ReturnType<typeof analyseRun>, evaluator: string) => r.comparisons.find((c) => c.variant === 'small' && c.evaluator === evaluator);

  it('scores carry the Wilcoxon signed-rank p of scipy beside the paired t, and the decision keeps the paired t rule', () => {
    const n = scores.inputs.control.length;
    const r = run('score', n);
    const sim = find(r, 'sim')!;
    expect(sim.method).toBe('paired_t');
    expectClose(sim.wilcoxonPValue!, scores.expected.pValue, 1e-9);
    expect(sim.pValue).not.toBe(sim.wilcoxonPValue);
    // Equal measurements: no metric row at all (nothing to test).
    expect(r.comparisons.filter((c) => c.method === 'wilcoxon')).toEqual([]);
    // Wilcoxon p is 0.053 (not significant) yet the decision follows the paired t interval and Holm.
    expect(r.decision.reasons.join(' ')).toContain('small, sim: ');
    expect(candidateVerdict(r, 'small', false).action).toBe(r.decision.action);
  });

  it('latency (ties and zeros, n = 70): mean paired difference, bootstrap interval, Wilcoxon p equal to scipy', () => {
    const n = latency.inputs.control.length;
    const c = find(run('latencyMs', n), 'latency_ms')!;
    const d = (latency.inputs.candidate as number[]).map((v, i) => v - latency.inputs.control[i]);
    expect(c).toMatchObject({ method: 'wilcoxon', pairs: n, nonInferior: null, significantlyWorse: false });
    expect(c.difference).toBeCloseTo(d.reduce((s, v) => s + v, 0) / n, 12);
    expectClose(c.pValue!, latency.expected.pValue, 1e-8);
    expect(c.ci![0]).toBeLessThan(c.difference!);
    expect(c.ci![1]).toBeGreaterThan(c.difference!);
  });

  it('TTFT (exact Wilcoxon, n = 40) equals scipy on the same pairs (wilcoxon_ttft_and_cost_per_answer)', () => {
    const n = ttft.inputs.control.length;
    const r = run('ttftMs', n);
    const c = find(r, 'ttft_ms')!;
    const candidate = ttft.inputs.candidate as number[];
    expect(c.pairs).toBe(n);
    expectClose(c.difference!, ttft.expected.meanDifference, 1e-6);
    expectClose(c.pValue!, pairedCase('wilcoxon_ttft_and_cost_per_answer').expected.ttftPValue, 1e-9);
    expect(c.ci![1]).toBeLessThan(0);
    expect(r.variants.find((v) => v.key === 'small')!.ttftMs!.mean).toBeCloseTo(candidate.reduce((s, v) => s + v, 0) / n, 9);
  });

  it('tokens per answer (ties and zeros, n = 12: sign-flip permutation) equal scipy', () => {
    const n = tokens.inputs.control.length;
    const r = run('tokens', n);
    const c = find(r, 'tokens')!;
    expect(c.pairs).toBe(n);
    expectClose(c.pValue!, tokens.expected.pValue, 1e-9);
    const control = (tokens.inputs.control as number[]).map((v) => 4 * v);
    expect(r.variants.find((v) => v.key === 'big')!.tokensPerAnswer).toBeCloseTo(control.reduce((s, v) => s + v, 0) / n, 12);
  });

  it('cost per answer: bootstrap interval of the mean paired difference within Monte-Carlo error of scipy', () => {
    const n = cost.inputs.control.length;
    const r = run('costUsd', n);
    const c = find(r, 'cost_usd')!;
    expectClose(c.difference!, cost.expected.meanDifference, 1e-9);
    // scipy used 100 000 resamples, the analysis 4 000: allow 10 % of the interval's width.
    const width = cost.expected.ci[1] - cost.expected.ci[0];
    expect(Math.abs(c.ci![0] - cost.expected.ci[0])).toBeLessThanOrEqual(0.1 * width);
    expect(Math.abs(c.ci![1] - cost.expected.ci[1])).toBeLessThanOrEqual(0.1 * width);
    expectClose(c.pValue!, pairedCase('wilcoxon_ttft_and_cost_per_answer').expected.costPValue, 1e-8);
    expect(r.variants.find((v) => v.key === 'small')!.costPerAnswerUsd).toBeCloseTo((cost.inputs.candidate as number[]).reduce((s, v) => s + v, 0) / n, 12);
  });

  it('metric comparisons stay outside the decision and a failed call leaves its case out', () => {
    const n = latency.inputs.control.length;
    const rows = [...measured('big', 'control', n, 'latencyMs'), ...measured('small', 'candidate', n, 'latencyMs')];
    rows[n].error = 'the upstream answered 400';
    const r = analyseRun({ control: 'big', variants: ['big', 'small'], evaluators: simOnly, rows, repetitions: 1, margin: 0.05, alpha: 0.05, partial: false });
    expect(find(r, 'latency_ms')!.pairs).toBe(n - 1);
    expect(r.decision.action).toBe('ready_for_live');
    expect(r.decision.reasons.some((x) => x.includes('latency_ms'))).toBe(false);
  });
});
