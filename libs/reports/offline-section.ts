import type { OfflineAction, OfflineStage } from '../analysis/results.types';
import { METRIC_COMPARISONS, type MetricName, type RunResults, type VariantResult } from '../evaluation/run-analysis';
import { escapeHtml as h } from './html';

/** The latest finished offline evaluation run of an experiment, as the page and the email show it (issue #19). */
export interface OfflineView {
  runId: string;
  dataset: string;
  datasetVersion: number;
  control: string;
  partial: boolean;
  finishedAt: string | null;
  results: RunResults;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const points = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} pts`;
const VERDICT: Record<RunResults['decision']['action'], string> = { ready_for_live: 'Ready for live traffic', not_ready: 'Not ready for live traffic' };

interface Line {
  variant: string;
  evaluator: string;
  value: string;
  difference: string;
  p: string;
  worst: string;
}

const signed = (v: number, digits: number) => `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
const usd = (v: number) => `${v < 0 ? '-' : ''}$${Math.abs(v).toPrecision(3)}`;
const signedUsd = (v: number) => `${v >= 0 ? '+' : ''}${usd(v)}`;

/** Per-answer measurements (docs/adr/0040): the variant's mean, and how a difference reads. */
const METRIC: Record<MetricName, { value: (v: VariantResult) => number | null | undefined; show: (x: number) => string; diff: (x: number) => string }> = {
  latency_ms: { value: (v) => v.latencyMs?.mean, show: (x) => `${x.toFixed(0)} ms`, diff: (x) => `${signed(x, 0)} ms` },
  ttft_ms: { value: (v) => v.ttftMs?.mean, show: (x) => `${x.toFixed(0)} ms`, diff: (x) => `${signed(x, 0)} ms` },
  tokens: { value: (v) => v.tokensPerAnswer, show: (x) => x.toFixed(1), diff: (x) => signed(x, 1) },
  cost_usd: { value: (v) => v.costPerAnswerUsd, show: usd, diff: signedUsd },
};

/** Rows of latency, TTFT, tokens and cost per answer: mean per answer, paired difference [bootstrap interval], Wilcoxon p. */
function metricLines(view: OfflineView): Line[] {
  const out: Line[] = [];
  for (const metric of METRIC_COMPARISONS) {
    const m = METRIC[metric];
    const compared = view.results.comparisons.filter((x) => x.evaluator === metric && x.method === 'wilcoxon');
    // Results stored before docs/adr/0040 lack the figures: show what they hold, nothing invented.
    if (!compared.length && !view.results.variants.some((v) => m.value(v) != null)) continue;
    for (const v of view.results.variants) {
      const value = m.value(v);
      const c = compared.find((x) => x.variant === v.key);
      out.push({
        variant: v.key,
        evaluator: metric,
        value: value == null ? '-' : `${m.show(value)} per answer`,
        difference: v.key === view.control ? 'control' : c?.difference == null ? '-' : `${m.diff(c.difference)}${c.ci ? ` [${m.diff(c.ci[0])}, ${m.diff(c.ci[1])}]` : ''}`,
        p: c?.pValue == null ? '' : `wilcoxon p = ${c.pValue.toPrecision(3)}`,
        worst: '',
      });
    }
  }
  return out;
}

function lines(view: OfflineView): Line[] {
  const out: Line[] = [];
  for (const v of view.results.variants) {
    for (const [name, s] of Object.entries(v.evaluators)) {
      const c = view.results.comparisons.find((x) => x.variant === v.key && x.evaluator === name);
      const value = s.passRate !== undefined ? pct(s.passRate) : s.mean !== undefined ? s.mean.toFixed(3) : '-';
      out.push({
        variant: v.key,
        evaluator: name,
        value: `${value}${s.errors ? ` (${s.errors} evaluator errors)` : ''}`,
        difference: v.key === view.control ? 'control' : c?.difference == null ? '-' : `${points(c.difference)}${c.ci ? ` [${points(c.ci[0])}, ${points(c.ci[1])}]` : ''}`,
        p:
          c?.pValue == null
            ? ''
            : `${c.method} p = ${c.pValue.toPrecision(3)}${c.adjustedPValue == null ? '' : `, Holm ${c.adjustedPValue.toPrecision(3)}`}${c.wilcoxonPValue == null ? '' : `; wilcoxon p = ${c.wilcoxonPValue.toPrecision(3)}`}`,
        worst: c?.worstCases.length ? c.worstCases.map((w) => w.caseId).join(', ') : '',
      });
    }
  }
  return [...out, ...metricLines(view)];
}

function heading(view: OfflineView): string {
  return `Offline evaluation: dataset ${view.dataset} v${view.datasetVersion}${view.partial ? ' (partial run)' : ''}${view.finishedAt ? `, finished ${view.finishedAt}` : ''}`;
}

/** The offline section of the results page (and, with inline styles, of the email). */
export function offlineSectionHtml(view: OfflineView | null | undefined, inline = false): string {
  if (!view) return '';
  const cell = inline ? ' style="padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left"' : '';
  const rows = lines(view)
    .map((l) => `<tr data-variant="${h(l.variant)}" data-evaluator="${h(l.evaluator)}"><td${cell}>${h(l.variant)}</td><td${cell}>${h(l.evaluator)}</td><td${cell}>${h(l.value)}</td><td${cell}>${h(l.difference)}</td><td${cell}>${h(l.p)}</td><td${cell}>${h(l.worst)}</td></tr>`)
    .join('');
  const head = ['Variant', 'Evaluator', 'Pass rate / mean', 'Paired difference [interval]', 'Test', 'Worst regressions (case ids)'].map((x) => `<th${cell}>${h(x)}</th>`).join('');
  const { decision } = view.results;
  return (
    `<section id="offline" data-decision="${h(decision.action)}"${inline ? ' style="margin:12px 0"' : ''}>` +
    `<h2${inline ? ' style="font-size:16px;margin:8px 0 4px"' : ''}>${h(heading(view))}</h2>` +
    `<p><strong>${h(VERDICT[decision.action])}</strong></p>` +
    `<ul>${decision.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>` +
    `<div class="table-wrap"${inline ? ' style="overflow-x:auto"' : ''}><table${inline ? ' style="border-collapse:collapse;font-size:13px"' : ''}><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div>` +
    `</section>`
  );
}

export function offlineSectionText(view: OfflineView | null | undefined): string {
  if (!view) return '';
  return [
    heading(view),
    `Offline decision: ${VERDICT[view.results.decision.action]}`,
    ...view.results.decision.reasons.map((r) => `  - ${r}`),
    ...lines(view).map((l) => `  ${l.variant} / ${l.evaluator}: ${l.value}; ${l.difference}${l.p ? `; ${l.p}` : ''}${l.worst ? `; worst: ${l.worst}` : ''}`),
  ].join('\n');
}

const STAGE: Record<OfflineAction, string> = { ready_for_live: 'ready for live traffic', not_ready: 'not ready for live traffic', not_evaluated: 'not evaluated' };

function stageHeading(stage: OfflineStage): string {
  const run = stage.evaluationId ? ` (latest run ${stage.evaluationId}${stage.finishedAt ? `, finished ${stage.finishedAt}` : ''})` : '';
  return `Offline stage: ${STAGE[stage.action]}${run}`;
}

function candidateLine(c: OfflineStage['candidates'][number]): string {
  const where = c.evaluationId ? ` (dataset ${c.dataset} v${c.datasetVersion}, run ${c.evaluationId})` : '';
  return `${c.variant}: ${STAGE[c.action]}${where}`;
}

/**
 * The offline stage inside the decision block of the page and the email (docs/adr/0035): the
 * stage's verdict and, per treatment, its own with the run and dataset it comes from and its
 * reasons (the detailed offline section stays below the table).
 */
export function offlineStageHtml(stage: OfflineStage | undefined, inline = false): string {
  if (!stage) return '';
  const small = inline ? ' style="margin:4px 0;color:#374151"' : '';
  const items = stage.candidates
    .map(
      (c) =>
        `<li data-variant="${h(c.variant)}" data-offline="${h(c.action)}">${h(candidateLine(c))}` +
        (c.action === 'not_evaluated' ? '' : `<ul>${c.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>`) +
        `</li>`,
    )
    .join('');
  return (
    `<div class="offline-stage" id="offline-stage" data-offline="${h(stage.action)}" data-evaluation="${h(stage.evaluationId ?? '')}"${inline ? ' style="margin:8px 0;padding:6px 10px;border-left:3px solid #9ca3af"' : ''}>` +
    // Not a <strong>: the verdict's own <strong> stays the only one in the decision block (page tests read it).
    `<p class="offline-stage-title"${inline ? ' style="margin:4px 0;color:#374151;font-weight:600"' : ''}>${h(stageHeading(stage))}</p>` +
    `<ul${small}>${items}</ul>` +
    `</div>`
  );
}

export function offlineStageText(stage: OfflineStage | undefined): string {
  if (!stage) return '';
  return [
    stageHeading(stage),
    ...stage.candidates.flatMap((c) => [`  * ${candidateLine(c)}`, ...(c.action === 'not_evaluated' ? [] : c.reasons.map((r) => `      - ${r}`))]),
  ].join('\n');
}
