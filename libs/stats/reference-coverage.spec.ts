import * as fs from 'node:fs';
import * as path from 'node:path';
import { allCaseIds, pairedCaseIds, referenceDir } from './reference-cases';

/** Where each reference case is reproduced; a new case in the shared files fails here until it is placed. */
const COVERED: Record<string, string> = {
  ttest_two_sided_mean: 'welch-test.spec.ts',
  ttest_two_sided_binomial: 'welch-test.spec.ts',
  ttest_one_sided_mean: 'welch-test.spec.ts',
  sequential_two_sided_mean_tuning_1000: 'sequential-test.spec.ts',
  sequential_two_sided_binomial_default_tuning: 'sequential-test.spec.ts',
  sequential_two_sided_cuped: 'sequential-test.spec.ts',
  bayesian_binomial_flat_prior: 'bayes.spec.ts',
  bayesian_mean_flat_and_proper_prior: 'bayes.spec.ts',
  ratio_metric_delta_method: 'ratio-test.spec.ts',
  count_metric_pipeline_dimension_one: 'welch-test.spec.ts',
  cuped_mean_ra: 'cuped-test.spec.ts',
  ratio_cuped_ratio_ra: 'cuped-test.spec.ts',
  quantile_p90_difference: 'quantile.spec.ts',
  srm_chi_square: 'srm.spec.ts',
  power_and_mde: 'power.spec.ts',
  two_proportion_ztest_success_rate: 'welch-test.spec.ts',
  welch_ttest_latency_summary_stats: 'welch-test.spec.ts',
  relative_lift_delta_method_and_fieller: 'welch-test.spec.ts',
  ratio_metric_cost_per_success_delta_method: 'ratio-test.spec.ts',
  srm_chisquare_two_arms_flagged: 'srm.spec.ts',
  srm_chisquare_three_arms_ok: 'srm.spec.ts',
  holm_adjustment: 'multiple-testing.spec.ts',
  benjamini_hochberg_adjustment: 'multiple-testing.spec.ts',
  sample_size_and_mde: 'power.spec.ts',
  binomial_order_statistic_ci_median: 'quantile.spec.ts',
  percentile_p95_from_histogram_outer_ci: 'quantile.spec.ts',
  msprt_always_valid_and_statsig_sequential_ci: 'sequential-test.spec.ts',
  eppo_sequential_ci_multiplier: 'sequential-test.spec.ts',
  gst_alpha_spending_obf_and_power: 'alpha-spending.spec.ts',
  cuped_theta_and_variance_reduction: 'cuped-test.spec.ts',
  non_inferiority_guardrails: 'margin-test.spec.ts',
  bayesian_beta_binomial_and_normal_posterior: 'bayes.spec.ts',
  thompson_sampling_probability_best: 'thompson.spec.ts',
};
/** Belongs to libs/assignment (bucketing hashes), not to statistics. */
const ELSEWHERE = ['bucketing_hash_vectors'];

describe('reference cases', () => {
  it('are read from a folder that exists (shared or the committed copy)', () => {
    expect(fs.existsSync(path.join(referenceDir(), 'growthbook_cases.json'))).toBe(true);
    expect(fs.existsSync(path.join(referenceDir(), 'scipy_cases.json'))).toBe(true);
  });

  it('the committed copy matches the shared files when both exist', () => {
    const shared = referenceDir();
    const local = path.join(__dirname, 'reference');
    if (shared === local) return;
    for (const f of ['growthbook_cases.json', 'scipy_cases.json']) {
      expect(fs.readFileSync(path.join(local, f), 'utf8')).toBe(fs.readFileSync(path.join(shared, f), 'utf8'));
    }
  });

  it('every case is reproduced by a spec that names it', () => {
    const ids = allCaseIds();
    for (const id of [...ids.growthbook, ...ids.scipy]) {
      if (ELSEWHERE.includes(id)) continue;
      const spec = COVERED[id];
      expect(spec).toBeDefined();
      expect(fs.readFileSync(path.join(__dirname, spec), 'utf8')).toContain(id);
    }
  });

  it('every paired case (offline evaluations) is reproduced in paired-test.spec.ts', () => {
    const spec = fs.readFileSync(path.join(__dirname, 'paired-test.spec.ts'), 'utf8');
    const ids = pairedCaseIds();
    expect(ids.length).toBeGreaterThan(5);
    for (const id of ids) expect(spec).toContain(`'${id}'`);
  });
});
