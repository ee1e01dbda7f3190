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
