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
