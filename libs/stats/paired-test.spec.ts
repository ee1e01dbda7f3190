import {
  bootstrapMeanDifference,
  caseMeans,
  mcnemarExact,
  mcnemarFromOutcomes,
  pairedNonInferiority,
  pairedTTest,
  wilcoxonSignedRank,
} from './paired-test';
import { holm } from './multiple-testing';
import { expectClose, pairedCase } from './reference-cases';
import { StatsInputError } from './stats-input.error';

describe('McNemar exact test', () => {
  it('reproduces scipy on per-case pass/fail (mcnemar_exact_pass_fail)', () => {
    const c = pairedCase('mcnemar_exact_pass_fail');
    const control = (c.inputs.control as number[]).map((v) => v === 1);
    const candidate = (c.inputs.candidate as number[]).map((v) => v === 1);
    const r = mcnemarFromOutcomes(control, candidate);
    expect(r.onlyControl).toBe(c.expected.onlyControl);
    expect(r.onlyCandidate).toBe(c.expected.onlyCandidate);
    expectClose(r.pValue, c.expected.pValue, c.tolerance.rel);
  });

  it.each(['mcnemar_exact_counts_0_0', 'mcnemar_exact_counts_5_5', 'mcnemar_exact_counts_0_9', 'mcnemar_exact_counts_30_12'])('reproduces scipy from counts (%s)', (name) => {
    const c = pairedCase(name);
    expectClose(mcnemarExact(c.inputs.onlyControl, c.inputs.onlyCandidate).pValue, c.expected.pValue, c.tolerance.rel);
  });

  it('is symmetric in the two discordant counts and refuses bad counts', () => {
    expect(mcnemarExact(3, 17).pValue).toBe(mcnemarExact(17, 3).pValue);
    expect(() => mcnemarExact(-1, 2)).toThrow(StatsInputError);
    expect(() => mcnemarExact(1.5, 2)).toThrow(StatsInputError);
  });
});

describe('paired t-test', () => {
  it('reproduces scipy ttest_rel on latencies (paired_t_latency)', () => {
    const c = pairedCase('paired_t_latency');
    const r = pairedTTest(c.inputs.control, c.inputs.candidate, { alpha: c.inputs.alpha });
    const tol = c.tolerance.rel;
    expectClose(r.meanDifference, c.expected.meanDifference, tol);
    expectClose(r.se, c.expected.se, tol);
    expectClose(r.statistic, c.expected.statistic, tol);
    expect(r.dof).toBe(c.expected.dof);
    expectClose(r.pValue, c.expected.pValue, 1e-5);
    expectClose(r.ci[0], c.expected.ci[0], tol);
    expectClose(r.ci[1], c.expected.ci[1], tol);
  });

  it('treats repetitions as clusters: case means first (paired_t_repetitions_as_clusters)', () => {
    const c = pairedCase('paired_t_repetitions_as_clusters');
    const r = pairedTTest(caseMeans(c.inputs.control), caseMeans(c.inputs.candidate));
    expect(r.n).toBe(c.expected.cases);
    expect(r.dof).toBe(c.expected.dof);
    expectClose(r.meanDifference, c.expected.meanDifference, c.tolerance.rel);
    expectClose(r.pValue, c.expected.pValue, 1e-6);
    expectClose(r.ci[0], c.expected.ci[0], c.tolerance.rel);
    expectClose(r.ci[1], c.expected.ci[1], c.tolerance.rel);
    // Flattening repetitions into pairs overstates n and shrinks p: the clustered p is larger.
    const naive = pairedTTest((c.inputs.control as number[][]).flat(), (c.inputs.candidate as number[][]).flat());
    expectClose(naive.pValue, c.expected.naivePValueTreatingRepetitionsAsCases, 1e-6);
    expect(r.pValue).toBeGreaterThan(naive.pValue);
  });

  it('refuses mismatched lengths, too few pairs and zero variance', () => {
    expect(() => pairedTTest([1, 2], [1])).toThrow(StatsInputError);
    expect(() => pairedTTest([1], [2])).toThrow(StatsInputError);
    expect(() => pairedTTest([1, 2, 3], [2, 3, 4])).toThrow(StatsInputError);
    expect(() => pairedTTest([1, NaN], [1, 2])).toThrow(StatsInputError);
    expect(() => caseMeans([[1], []])).toThrow(StatsInputError);
  });
});

describe('paired non-inferiority', () => {
  it('reproduces scipy ttest_1samp(d, -margin, greater) (paired_non_inferiority_score)', () => {
    const c = pairedCase('paired_non_inferiority_score');
    const r = pairedNonInferiority(c.inputs.control, c.inputs.candidate, { margin: c.inputs.margin, alpha: c.inputs.alpha });
    expectClose(r.statistic, c.expected.statistic, c.tolerance.rel);
    expectClose(r.pValue, c.expected.pValue, 1e-5);
    expectClose(r.bound, c.expected.lowerBound, c.tolerance.rel);
    expect(r.passed).toBe(true);
    const tight = pairedNonInferiority(c.inputs.control, c.inputs.candidate, { margin: c.inputs.tightMargin });
    expectClose(tight.pValue, c.expected.pValueTightMargin, 1e-6);
    expect(tight.passed).toBe(false);
  });

  it('mirrors for lower-is-better metrics (a slower candidate is inferior)', () => {
    const control = [100, 110, 120, 130, 140, 150];
    const slower = control.map((v, i) => v + 30 + (i % 2));
    expect(pairedNonInferiority(control, slower, { margin: 5, lowerIsBetter: true }).passed).toBe(false);
    expect(pairedNonInferiority(control, slower, { margin: 60, lowerIsBetter: true }).passed).toBe(true);
  });
});

describe('Wilcoxon signed-rank', () => {
  it('uses the exact null distribution without ties or zeros (wilcoxon_exact_scores)', () => {
    const c = pairedCase('wilcoxon_exact_scores');
    const two = wilcoxonSignedRank(c.inputs.control, c.inputs.candidate);
    expect(two.method).toBe('exact');
    expect(two.statistic).toBe(c.expected.statistic);
    expectClose(two.pValue, c.expected.pValue, c.tolerance.rel);
    const greater = wilcoxonSignedRank(c.inputs.control, c.inputs.candidate, { alternative: 'greater' });
    expect(greater.statistic).toBe(c.expected.rPlus);
    expectClose(greater.pValue, c.expected.pValueGreater, c.tolerance.rel);
    expectClose(wilcoxonSignedRank(c.inputs.control, c.inputs.candidate, { alternative: 'less' }).pValue, c.expected.pValueLess, c.tolerance.rel);
  });

  it('enumerates sign flips with ties and zeros at n <= 13 (wilcoxon_ties_zeros_permutation)', () => {
    const c = pairedCase('wilcoxon_ties_zeros_permutation');
    const two = wilcoxonSignedRank(c.inputs.control, c.inputs.candidate);
    expect(two.method).toBe('permutation');
    expect(two.statistic).toBe(c.expected.statistic);
    expectClose(two.pValue, c.expected.pValue, c.tolerance.rel);
    expectClose(wilcoxonSignedRank(c.inputs.control, c.inputs.candidate, { alternative: 'greater' }).pValue, c.expected.pValueGreater, c.tolerance.rel);
  });

  it('uses the tie-corrected normal approximation otherwise (wilcoxon_ties_zeros_asymptotic)', () => {
    const c = pairedCase('wilcoxon_ties_zeros_asymptotic');
    const two = wilcoxonSignedRank(c.inputs.control, c.inputs.candidate);
    expect(two.method).toBe('asymptotic');
    expect(two.n).toBe(c.expected.nonZero);
    expect(two.statistic).toBe(c.expected.statistic);
    expectClose(two.z ?? NaN, c.expected.z, 1e-9);
    expectClose(two.pValue, c.expected.pValue, 1e-8);
    expectClose(wilcoxonSignedRank(c.inputs.control, c.inputs.candidate, { alternative: 'greater' }).pValue, c.expected.pValueGreater, 1e-8);
    expectClose(wilcoxonSignedRank(c.inputs.control, c.inputs.candidate, { correction: true }).pValue, c.expected.pValueContinuityCorrected, 1e-8);
  });

  it('reproduces scipy on per-answer TTFT (exact) and cost (asymptotic) pairs (wilcoxon_ttft_and_cost_per_answer)', () => {
    const c = pairedCase('wilcoxon_ttft_and_cost_per_answer');
    const ttft = wilcoxonSignedRank(c.inputs.ttftControl, c.inputs.ttftCandidate);
    expect(ttft.method).toBe('exact');
    expect(ttft.statistic).toBe(c.expected.ttftStatistic);
    expectClose(ttft.pValue, c.expected.ttftPValue, c.tolerance.rel);
    const cost = wilcoxonSignedRank(c.inputs.costControl, c.inputs.costCandidate);
    expect(cost.method).toBe('asymptotic');
    expect(cost.statistic).toBe(c.expected.costStatistic);
    expectClose(cost.pValue, c.expected.costPValue, 1e-8);
  });

  it('refuses all-zero differences', () => {
    expect(() => wilcoxonSignedRank([1, 2, 3], [1, 2, 3])).toThrow(StatsInputError);
  });
});

describe('bootstrap of the mean paired difference', () => {
  it('matches scipy percentile bootstrap within Monte-Carlo error (bootstrap_mean_paired_difference_cost)', () => {
    const c = pairedCase('bootstrap_mean_paired_difference_cost');
    const r = bootstrapMeanDifference(c.inputs.control, c.inputs.candidate, { seed: 19, resamples: 100_000, confidence: c.inputs.confidence });
    const width = c.expected.ci[1] - c.expected.ci[0];
    const tol = c.tolerance.relToWidth * width;
    expectClose(r.meanDifference, c.expected.meanDifference, 1e-9);
    expect(Math.abs(r.ci[0] - c.expected.ci[0])).toBeLessThanOrEqual(tol);
    expect(Math.abs(r.ci[1] - c.expected.ci[1])).toBeLessThanOrEqual(tol);
    expect(Math.abs(r.standardError - c.expected.standardError)).toBeLessThanOrEqual(0.03 * c.expected.standardError);
  });

  it('is reproducible from its seed and differs across seeds', () => {
    const control = [1, 2, 3, 4, 5, 6, 7, 8];
    const candidate = [1.5, 2.1, 2.7, 4.9, 5.2, 6.8, 7.1, 8.9];
    const a = bootstrapMeanDifference(control, candidate, { seed: 1, resamples: 2000 });
    expect(bootstrapMeanDifference(control, candidate, { seed: 1, resamples: 2000 })).toEqual(a);
    expect(bootstrapMeanDifference(control, candidate, { seed: 2, resamples: 2000 }).ci).not.toEqual(a.ci);
  });
});

describe('Holm across evaluators', () => {
  it('adjusts the per-evaluator paired p-values together', () => {
    const c = pairedCase('paired_t_latency');
    const p = [pairedTTest(c.inputs.control, c.inputs.candidate).pValue, 0.03, 0.2];
    const adjusted = holm(p);
    expect(adjusted[1]).toBeCloseTo(0.06, 12);
    expect(adjusted[2]).toBeCloseTo(0.2, 12);
    expect(adjusted[0]).toBeCloseTo(3 * p[0], 12);
  });
});
