import type { OfflineStage } from '../analysis/results.types';
import { offlineSectionHtml, offlineSectionText, offlineStageHtml, offlineStageText, type OfflineView } from './offline-section';

const view: OfflineView = {
  runId: 'r1',
  dataset: 'qa<1>',
  datasetVersion: 2,
  control: 'big',
  partial: false,
  finishedAt: '2026-12-02T09:00:00.000Z',
  results: {
    variants: [
      { key: 'big', cases: 10, failedCalls: 0, costUsd: 0.01, inputTokens: 100, outputTokens: 50, latencyMs: { mean: 100, p50: 90, p95: 150 }, evaluators: { exact: { passRate: 1, ci: [1, 1], cases: 10, errors: 0 } } },
      { key: 'small', cases: 10, failedCalls: 0, costUsd: 0.001, inputTokens: 100, outputTokens: 50, latencyMs: { mean: 30, p50: 25, p95: 50 }, evaluators: { exact: { passRate: 0.7, ci: [0.4, 1], cases: 10, errors: 1 } } },
    ],
    comparisons: [
      { variant: 'small', evaluator: 'exact', difference: -0.3, ci: [-0.6, -0.1], pValue: 0.25, adjustedPValue: 0.25, method: 'mcnemar_exact', pairs: 10, nonInferior: false, significantlyWorse: false, worstCases: [{ caseId: 'c<7>', control: 1, candidate: 0 }] },
    ],
    decision: { action: 'not_ready', reasons: ['small, exact: non-inferiority not shown.'] },
  },
};

describe('offline section of the page and the email', () => {
  it('shows the decision, pass rates, the paired difference with its interval and the worst cases, escaped', () => {
    const html = offlineSectionHtml(view);
    expect(html).toContain('data-decision="not_ready"');
    expect(html).toContain('Offline evaluation: dataset qa&lt;1&gt; v2');
    expect(html).toContain('<td>70.0% (1 evaluator errors)</td>');
    expect(html).toContain('<td>-30.0 pts [-60.0 pts, -10.0 pts]</td>');
    expect(html).toContain('c&lt;7&gt;');
    expect(html).not.toContain('c<7>');
    expect(offlineSectionHtml(view, true)).toContain('style="padding:4px 8px');
    const text = offlineSectionText(view);
    expect(text).toContain('Offline decision: Not ready for live traffic');
    expect(text).toContain('small / exact: 70.0% (1 evaluator errors); -30.0 pts [-60.0 pts, -10.0 pts]; mcnemar_exact p = 0.250, Holm 0.250; worst: c<7>');
  });

  it('is empty without a finished run', () => {
    expect(offlineSectionHtml(null)).toBe('');
    expect(offlineSectionText(undefined)).toBe('');
  });
});

describe('per-answer measurements and Wilcoxon beside the paired t (docs/adr/0040)', () => {
  const withMetrics: OfflineView = {
    ...view,
    results: {
      variants: [
        { ...view.results.variants[0], ttftMs: { mean: 40, p50: 38, p95: 70 }, tokensPerAnswer: 15, costPerAnswerUsd: 0.001, evaluators: { judge: { mean: 0.9, ci: [0.8, 1], cases: 10, errors: 0 } } },
        { ...view.results.variants[1], ttftMs: { mean: 12, p50: 11, p95: 20 }, tokensPerAnswer: 16.5, costPerAnswerUsd: 0.0001, evaluators: { judge: { mean: 0.85, ci: [0.7, 1], cases: 10, errors: 0 } } },
      ],
      comparisons: [
        { variant: 'small', evaluator: 'judge', difference: -0.05, ci: [-0.1, 0], pValue: 0.04, adjustedPValue: 0.04, wilcoxonPValue: 0.0625, method: 'paired_t', pairs: 10, nonInferior: false, significantlyWorse: false, worstCases: [] },
        { variant: 'small', evaluator: 'latency_ms', difference: -70, ci: [-80.4, -60], pValue: 0.00195, adjustedPValue: null, method: 'wilcoxon', pairs: 10, nonInferior: null, significantlyWorse: false, worstCases: [] },
        { variant: 'small', evaluator: 'ttft_ms', difference: -28, ci: [-31, -25], pValue: 0.00195, adjustedPValue: null, method: 'wilcoxon', pairs: 10, nonInferior: null, significantlyWorse: false, worstCases: [] },
        { variant: 'small', evaluator: 'tokens', difference: 1.5, ci: [0.5, 2.5], pValue: 0.0313, adjustedPValue: null, method: 'wilcoxon', pairs: 10, nonInferior: null, significantlyWorse: false, worstCases: [] },
        { variant: 'small', evaluator: 'cost_usd', difference: -0.0009, ci: [-0.00095, -0.00085], pValue: 0.00195, adjustedPValue: null, method: 'wilcoxon', pairs: 10, nonInferior: null, significantlyWorse: false, worstCases: [] },
      ],
      decision: { action: 'not_ready', reasons: [] },
    },
  };

  it('adds the Wilcoxon p to score rows and a row per variant for latency, TTFT, tokens and cost per answer, on the page and in the text', () => {
    const html = offlineSectionHtml(withMetrics);
    expect(html).toContain('<td>paired_t p = 0.0400, Holm 0.0400; wilcoxon p = 0.0625</td>');
    expect(html).toContain('<tr data-variant="big" data-evaluator="latency_ms"><td>big</td><td>latency_ms</td><td>100 ms per answer</td><td>control</td><td></td><td></td></tr>');
    expect(html).toContain('<tr data-variant="small" data-evaluator="latency_ms"><td>small</td><td>latency_ms</td><td>30 ms per answer</td><td>-70 ms [-80 ms, -60 ms]</td><td>wilcoxon p = 0.00195</td><td></td></tr>');
    expect(html).toContain('<tr data-variant="small" data-evaluator="ttft_ms"><td>small</td><td>ttft_ms</td><td>12 ms per answer</td><td>-28 ms [-31 ms, -25 ms]</td>');
    expect(html).toContain('<tr data-variant="small" data-evaluator="tokens"><td>small</td><td>tokens</td><td>16.5 per answer</td><td>+1.5 [+0.5, +2.5]</td><td>wilcoxon p = 0.0313</td>');
    expect(html).toContain('<tr data-variant="big" data-evaluator="cost_usd"><td>big</td><td>cost_usd</td><td>$0.00100 per answer</td><td>control</td>');
    expect(html).toContain('<td>-$0.000900 [-$0.000950, -$0.000850]</td>');
    const text = offlineSectionText(withMetrics).split('\n');
    expect(text).toContain('  small / judge: 0.850; -5.0 pts [-10.0 pts, +0.0 pts]; paired_t p = 0.0400, Holm 0.0400; wilcoxon p = 0.0625');
    expect(text).toContain('  small / ttft_ms: 12 ms per answer; -28 ms [-31 ms, -25 ms]; wilcoxon p = 0.00195');
    expect(text).toContain('  big / tokens: 15.0 per answer; control');
  });

  it('shows of results stored before these figures only what they hold', () => {
    const text = offlineSectionText(view);
    expect(text).toContain('  small / latency_ms: 30 ms per answer; -');
    expect(text).not.toContain('ttft_ms');
    expect(text).not.toContain('cost_usd');
  });
});

describe('offline stage inside the decision block (docs/adr/0035)', () => {
  const stage: OfflineStage = {
    action: 'not_ready',
    evaluationId: 'r1',
    finishedAt: '2026-12-02T09:00:00.000Z',
    reasons: ['small, exact: non-inferiority <not> shown.'],
    candidates: [
      { variant: 'small', action: 'not_ready', evaluationId: 'r1', dataset: 'qa<1>', datasetVersion: 2, finishedAt: '2026-12-02T09:00:00.000Z', reasons: ['small, exact: non-inferiority <not> shown.'] },
      { variant: 'judge', action: 'not_evaluated', evaluationId: null, dataset: null, datasetVersion: null, finishedAt: null, reasons: ['judge: no complete offline evaluation run compared it with the control.'] },
    ],
  };

  it('names the stage, the run, and per treatment its verdict, dataset and reasons, escaped', () => {
    const html = offlineStageHtml(stage);
    expect(html).toContain('<div class="offline-stage" id="offline-stage" data-offline="not_ready" data-evaluation="r1">');
    expect(html).toContain('<p class="offline-stage-title">Offline stage: not ready for live traffic (latest run r1, finished 2026-12-02T09:00:00.000Z)</p>');
    expect(html).not.toContain('<strong>');
    expect(html).toContain('<li data-variant="small" data-offline="not_ready">small: not ready for live traffic (dataset qa&lt;1&gt; v2, run r1)<ul><li>small, exact: non-inferiority &lt;not&gt; shown.</li></ul></li>');
    expect(html).toContain('<li data-variant="judge" data-offline="not_evaluated">judge: not evaluated</li>');
    expect(html).not.toContain('<not>');
    expect(offlineStageHtml(stage, true)).toContain('style="margin:8px 0;');
    expect(offlineStageText(stage).split('\n')).toEqual([
      'Offline stage: not ready for live traffic (latest run r1, finished 2026-12-02T09:00:00.000Z)',
      '  * small: not ready for live traffic (dataset qa<1> v2, run r1)',
      '      - small, exact: non-inferiority <not> shown.',
      '  * judge: not evaluated',
    ]);
    expect(offlineStageHtml(undefined)).toBe('');
  });
});
