"""Generates libs/stats/reference/scipy_paired_cases.json (issue #19, paired statistics).

Run: python3 scripts/reference/paired_cases.py > libs/stats/reference/scipy_paired_cases.json
Needs numpy and scipy (1.17 was used). Tests never run this file; they read the JSON.
Data are fixed-seed and written into the JSON, so the cases do not depend on numpy's RNG.
"""
import json
import numpy as np
import scipy
from scipy import stats

rng = np.random.RandomState(19)
cases = []


def r(x, k=6):
    return [round(float(v), k) for v in x]


# --- McNemar exact: per-case pass/fail of control (big) and candidate (small) ---
n_cases = 80
control = (rng.rand(n_cases) < 0.9).astype(int)
candidate = control.copy()
flip = rng.choice(n_cases, 14, replace=False)
candidate[flip[:11]] = 0  # candidate fails where control passed (mostly)
candidate[flip[11:]] = 1
b = int(np.sum((control == 1) & (candidate == 0)))  # only control passes
c = int(np.sum((control == 0) & (candidate == 1)))  # only candidate passes
res = stats.binomtest(min(b, c), b + c, 0.5, alternative='two-sided')
cases.append({
    'name': 'mcnemar_exact_pass_fail',
    'method': "McNemar's exact test: two-sided binomial test of the discordant pairs against 1/2",
    'inputs': {'control': control.tolist(), 'candidate': candidate.tolist()},
    'expected': {'onlyControl': b, 'onlyCandidate': c, 'pValue': res.pvalue,
                 'passRateControl': float(control.mean()), 'passRateCandidate': float(candidate.mean())},
    'tolerance': {'rel': 1e-9},
    'how_computed': 'b = #(control pass, candidate fail), c = #(control fail, candidate pass); scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue (two-sided; equals min(1, 2 P(X <= min(b, c))), statsmodels mcnemar(exact=True)).',
})
for b2, c2 in [(0, 0), (5, 5), (0, 9), (30, 12)]:
    p2 = 1.0 if b2 + c2 == 0 else stats.binomtest(min(b2, c2), b2 + c2, 0.5).pvalue
    cases.append({
        'name': f'mcnemar_exact_counts_{b2}_{c2}',
        'method': "McNemar's exact test from discordant counts",
        'inputs': {'onlyControl': b2, 'onlyCandidate': c2},
        'expected': {'pValue': p2},
        'tolerance': {'rel': 1e-9},
        'how_computed': 'scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue; no discordant pair gives p = 1.',
    })

# --- paired t on latencies (ms) ---
n = 40
base = rng.lognormal(np.log(900), 0.35, n)
cand = base * rng.normal(0.78, 0.08, n)
res = stats.ttest_rel(cand, base)
ci = res.confidence_interval(0.95)
d = cand - base
cases.append({
    'name': 'paired_t_latency',
    'method': 'paired t-test (ttest_rel), candidate - control, two-sided, 95% CI',
    'inputs': {'control': r(base, 3), 'candidate': r(cand, 3), 'alpha': 0.05},
    'expected': None, 'tolerance': {'rel': 1e-7}, 'how_computed': '',
})
base_r, cand_r = np.array(r(base, 3)), np.array(r(cand, 3))
res = stats.ttest_rel(cand_r, base_r)
ci = res.confidence_interval(0.95)
dd = cand_r - base_r
cases[-1]['expected'] = {'meanDifference': float(dd.mean()), 'se': float(dd.std(ddof=1) / np.sqrt(n)),
                         'statistic': float(res.statistic), 'dof': float(res.df), 'pValue': float(res.pvalue),
                         'ci': [float(ci.low), float(ci.high)]}
cases[-1]['how_computed'] = 'scipy.stats.ttest_rel(candidate, control); confidence_interval(0.95); se = sd(d, ddof=1)/sqrt(n).'

# --- Wilcoxon signed-rank: exact (no ties, no zeros, n <= 50) ---
x = np.round(rng.normal(0.62, 0.15, 24), 4)
y = np.round(x + rng.normal(-0.05, 0.08, 24), 4)
dd = y - x
assert len(set(np.abs(np.round(dd, 4)))) == 24 and np.all(np.round(dd, 4) != 0)
res = stats.wilcoxon(y, x)
res_g = stats.wilcoxon(y, x, alternative='greater')
res_l = stats.wilcoxon(y, x, alternative='less')
cases.append({
    'name': 'wilcoxon_exact_scores',
    'method': "Wilcoxon signed-rank, scipy method='auto' -> exact (n <= 50, no ties, no zeros)",
    'inputs': {'control': r(x, 4), 'candidate': r(y, 4)},
    'expected': {'method': 'exact', 'statistic': float(res.statistic), 'pValue': float(res.pvalue),
                 'pValueGreater': float(res_g.pvalue), 'pValueLess': float(res_l.pvalue), 'rPlus': float(res_g.statistic)},
    'tolerance': {'rel': 1e-9},
    'how_computed': 'scipy.stats.wilcoxon(candidate, control) defaults (zero_method wilcox, correction False, method auto); two-sided statistic = min(R+, R-); one-sided statistic = R+.',
})

# --- Wilcoxon with ties and zeros, n <= 13: exact permutation over sign flips ---
x = np.array([0.5, 0.75, 0.25, 1.0, 0.5, 0.75, 0.5, 0.25, 1.0, 0.75, 0.5, 0.25])
y = np.array([0.25, 0.5, 0.25, 0.5, 0.5, 0.25, 0.0, 0.5, 0.75, 0.5, 0.5, 0.0])
res = stats.wilcoxon(y, x)
res_g = stats.wilcoxon(y, x, alternative='greater')
cases.append({
    'name': 'wilcoxon_ties_zeros_permutation',
    'method': "Wilcoxon signed-rank, scipy method='auto' -> permutation (ties or zeros, n <= 13: all 2^n sign flips)",
    'inputs': {'control': x.tolist(), 'candidate': y.tolist()},
    'expected': {'method': 'permutation', 'statistic': float(res.statistic), 'pValue': float(res.pvalue),
                 'pValueGreater': float(res_g.pvalue), 'rPlus': float(res_g.statistic)},
    'tolerance': {'rel': 1e-9},
    'how_computed': 'scipy.stats.wilcoxon(candidate, control) defaults; n counts zeros (12 pairs) so auto picks the permutation test over all 4096 sign flips of d (zeros dropped from ranking: zero_method wilcox).',
})

# --- Wilcoxon with ties and zeros, n > 13: normal approximation with tie correction ---
x = np.round(rng.uniform(0, 1, 70), 1)
y = np.round(np.clip(x + rng.normal(-0.05, 0.15, 70), 0, 1), 1)
res = stats.wilcoxon(y, x)
res_g = stats.wilcoxon(y, x, alternative='greater')
res_z = stats.wilcoxon(y, x, method='asymptotic')
res_c = stats.wilcoxon(y, x, correction=True, method='asymptotic')
cases.append({
    'name': 'wilcoxon_ties_zeros_asymptotic',
    'method': "Wilcoxon signed-rank, scipy method='auto' -> asymptotic (ties/zeros and n > 13): normal with tie correction, zeros dropped",
    'inputs': {'control': x.tolist(), 'candidate': y.tolist()},
    'expected': {'method': 'asymptotic', 'statistic': float(res.statistic), 'pValue': float(res.pvalue),
                 'pValueGreater': float(res_g.pvalue), 'z': float(res_z.zstatistic),
                 'pValueContinuityCorrected': float(res_c.pvalue),
                 'nonZero': int(np.sum(np.round(y - x, 10) != 0))},
    'tolerance': {'rel': 1e-9},
    'how_computed': 'scipy.stats.wilcoxon(candidate, control) defaults (correction False); z = (R+ - n(n+1)/4)/sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48) over the n non-zero differences; two-sided z reported as -|z|; pValueContinuityCorrected with correction=True.',
})

# --- Repetitions as clusters: average per case, then paired t ---
n_case, reps = 30, 3
case_effect = rng.normal(0.7, 0.15, n_case)
ctrl = np.clip(case_effect[:, None] + rng.normal(0, 0.05, (n_case, reps)), 0, 1)
cand = np.clip(case_effect[:, None] - 0.04 + rng.normal(0, 0.05, (n_case, reps)), 0, 1)
ctrl, cand = np.round(ctrl, 4), np.round(cand, 4)
res = stats.ttest_rel(cand.mean(axis=1), ctrl.mean(axis=1))
ci = res.confidence_interval(0.95)
naive = stats.ttest_rel(cand.ravel(), ctrl.ravel())
cases.append({
    'name': 'paired_t_repetitions_as_clusters',
    'method': 'repetitions averaged per case first, then paired t on the case means',
    'inputs': {'control': ctrl.tolist(), 'candidate': cand.tolist()},
    'expected': {'cases': n_case, 'meanDifference': float((cand.mean(axis=1) - ctrl.mean(axis=1)).mean()),
                 'pValue': float(res.pvalue), 'dof': float(res.df), 'ci': [float(ci.low), float(ci.high)],
                 'naivePValueTreatingRepetitionsAsCases': float(naive.pvalue)},
    'tolerance': {'rel': 1e-7},
    'how_computed': 'scipy.stats.ttest_rel(candidate.mean(axis=1), control.mean(axis=1)); the naive p (every repetition as its own pair, dof 89) is given to show the difference.',
})

# --- Non-inferiority of the candidate's score, margin 0.05 (absolute), paired ---
n = 50
ctrl = np.round(np.clip(rng.normal(0.8, 0.1, n), 0, 1), 4)
cand = np.round(np.clip(ctrl + rng.normal(-0.015, 0.04, n), 0, 1), 4)
margin = 0.05
d = cand - ctrl
ni = stats.ttest_1samp(d, popmean=-margin, alternative='greater')
ni_fail = stats.ttest_1samp(d, popmean=-0.005, alternative='greater')
q = stats.t.ppf(0.95, n - 1)
cases.append({
    'name': 'paired_non_inferiority_score',
    'method': 'paired non-inferiority: one-sided t of H0 mean(d) <= -margin, d = candidate - control',
    'inputs': {'control': ctrl.tolist(), 'candidate': cand.tolist(), 'margin': margin, 'tightMargin': 0.005, 'alpha': 0.05},
    'expected': {'meanDifference': float(d.mean()), 'statistic': float(ni.statistic), 'pValue': float(ni.pvalue),
                 'lowerBound': float(d.mean() - q * d.std(ddof=1) / np.sqrt(n)),
                 'pValueTightMargin': float(ni_fail.pvalue)},
    'tolerance': {'rel': 1e-7},
    'how_computed': "scipy.stats.ttest_1samp(d, popmean=-margin, alternative='greater'); lower bound = mean - t_{0.95, n-1} sd/sqrt(n).",
})

# --- Bootstrap percentile interval of the mean paired difference ---
n = 60
ctrl = np.round(rng.gamma(2.0, 0.002, n), 6)
cand = np.round(ctrl * rng.normal(0.55, 0.1, n), 6)
d = cand - ctrl
boot = stats.bootstrap((d,), np.mean, n_resamples=100000, method='percentile', confidence_level=0.95,
                       random_state=np.random.RandomState(7))
cases.append({
    'name': 'bootstrap_mean_paired_difference_cost',
    'method': 'percentile bootstrap of the mean paired difference (resampling cases)',
    'inputs': {'control': ctrl.tolist(), 'candidate': cand.tolist(), 'confidence': 0.95},
    'expected': {'meanDifference': float(d.mean()), 'ci': [float(boot.confidence_interval.low), float(boot.confidence_interval.high)],
                 'standardError': float(boot.standard_error)},
    'tolerance': {'relToWidth': 0.03},
    'how_computed': "scipy.stats.bootstrap((d,), np.mean, n_resamples=100000, method='percentile'); Monte-Carlo, so the TypeScript bootstrap (its own seeded MT19937) is compared within 3% of the interval width.",
})

# --- Wilcoxon signed-rank on per-answer measurements (docs/adr/0040): TTFT and cost per answer ---
# Same pairs as paired_t_latency (used as TTFT, no ties: exact) and the cost case above
# (rounded to 1e-6 USD: ties possible, so scipy picks its method as the TypeScript does).
ttft_case = next(c for c in cases if c['name'] == 'paired_t_latency')
t_ctrl = np.array(ttft_case['inputs']['control'])
t_cand = np.array(ttft_case['inputs']['candidate'])
w_ttft = stats.wilcoxon(t_cand, t_ctrl)
w_cost = stats.wilcoxon(cand, ctrl)
cases.append({
    'name': 'wilcoxon_ttft_and_cost_per_answer',
    'method': 'Wilcoxon signed-rank (scipy defaults) of candidate - control on the TTFT pairs of paired_t_latency and the cost pairs of bootstrap_mean_paired_difference_cost',
    'inputs': {'ttftControl': t_ctrl.tolist(), 'ttftCandidate': t_cand.tolist(), 'costControl': ctrl.tolist(), 'costCandidate': cand.tolist()},
    'expected': {'ttftStatistic': float(w_ttft.statistic), 'ttftPValue': float(w_ttft.pvalue),
                 'costStatistic': float(w_cost.statistic), 'costPValue': float(w_cost.pvalue)},
    'tolerance': {'rel': 1e-9},
    'how_computed': 'scipy.stats.wilcoxon(candidate, control) with its defaults (zero_method wilcox, method auto, no correction).',
})

print(json.dumps({'generator': 'scripts/reference/paired_cases.py', 'scipy': scipy.__version__, 'numpy': np.__version__,
                  'cases': cases}, indent=1))
