import type { ExperimentView } from './report-view';
import { TABLE_METRICS, cupedLines, formatInterval, formatLift, formatValue, verdictText } from './report-view';
import { escapeHtml as h } from './html';
import { offlineSectionHtml, offlineSectionText, offlineStageHtml, offlineStageText } from './offline-section';
import { latencyChart, primaryLiftChart, svgToPng } from './report-charts';

export interface InlineImage {
  filename: string;
  cid: string;
  content: Buffer;
  contentType: 'image/png';
}

export interface ReportEmail {
  subject: string;
  html: string;
  text: string;
  attachments: InlineImage[];
}

export interface ReportEmailInput {
  reportName: string;
  experiments: ExperimentView[];
  /** Keys asked for that do not exist (any more). */
  missing: string[];
  /** Results-page link per experiment key. */
  links: Record<string, string>;
}

const CHART = { width: 560, height: 280 };

function cell(style = ''): string {
  return `style="padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap;${style}"`;
}

/** The per-variant table; each value cell carries the exact number as a data attribute. */
function tableHtml(view: ExperimentView): string {
  const head = ['Variant', 'Units', ...TABLE_METRICS.flatMap((m) => [m.label, `${m.label} lift`])]
    .map((label) => `<th ${cell('background:#f3f4f6')}>${h(label)}</th>`)
    .join('');
  const body = view.rows
    .map((row) => {
      const cells = row.cells
        .map((c, i) => {
          const format = TABLE_METRICS[i].format;
          const lift = row.isControl ? 'control' : formatLift(c.lift, c.liftCi);
          return (
            `<td ${cell()} data-metric="${c.metric}" data-value="${c.value ?? ''}">${h(formatValue(c.value, format))}` +
            `<br><span style="color:#6b7280;font-size:11px">${h(formatInterval(c.ci, format))}</span></td>` +
            `<td ${cell(c.significant ? 'font-weight:bold' : '')} data-lift="${c.metric}" data-value="${c.lift ?? ''}">${h(lift)}</td>`
          );
        })
        .join('');
      return `<tr data-variant="${h(row.key)}"><td ${cell('text-align:left')}>${h(row.key)}${row.isControl ? ' (control)' : ''}</td><td ${cell()} data-metric="units" data-value="${row.units}">${row.units}</td>${cells}</tr>`;
    })
    .join('');
  return `<table style="border-collapse:collapse;font-size:13px;margin:8px 0"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function tableText(view: ExperimentView): string {
  return view.rows
    .map((row) => {
      const parts = row.cells.map((c, i) => {
        const m = TABLE_METRICS[i];
        const lift = row.isControl ? '' : `, lift ${formatLift(c.lift, c.liftCi)}`;
        return `    ${m.label}: ${formatValue(c.value, m.format)} ${formatInterval(c.ci, m.format)}${lift}`;
      });
      return [`  ${row.key}${row.isControl ? ' (control)' : ''}: ${row.units} units`, ...parts].join('\n');
    })
    .join('\n');
}

/** The report email: HTML with inline CID charts (PNG: email clients do not show SVG), and plain text. */
export function composeReportEmail(input: ReportEmailInput): ReportEmail {
  const attachments: InlineImage[] = [];
  const htmlSections: string[] = [];
  const textSections: string[] = [];
  input.experiments.forEach((view, index) => {
    const { decision, srm } = view.results;
    const verdict = verdictText(view.results);
    const charts = [
      { kind: 'lift', svg: primaryLiftChart(view.results, CHART), alt: `Lift of ${view.results.primaryMetric.name} vs control` },
      { kind: 'latency', svg: latencyChart(view.results, CHART), alt: 'Latency percentiles per variant' },
    ].map((chart) => {
      const cid = `${chart.kind}-${index}@verdict`;
      attachments.push({ filename: `${view.key}-${chart.kind}.png`, cid, content: svgToPng(chart.svg, CHART.width), contentType: 'image/png' });
      return `<img src="cid:${cid}" alt="${h(chart.alt)}" width="${CHART.width}" style="max-width:100%;height:auto;display:block;margin:8px 0">`;
    });
    const link = input.links[view.key];
    const cuped = cupedLines(view.results);
    const srmText = srm.tested ? (srm.ok ? `SRM ok (p = ${srm.pValue.toPrecision(2)})` : `Sample ratio mismatch (p = ${srm.pValue.toPrecision(2)})`) : 'SRM not tested yet';
    htmlSections.push(
      `<section data-experiment="${h(view.key)}" style="margin:24px 0">` +
        `<h2 style="font-size:18px;margin:0 0 4px">${h(view.name)} <span style="color:#6b7280;font-weight:normal">(${h(view.key)})</span></h2>` +
        `<p style="margin:0 0 8px;color:#374151">Status: ${h(view.status)} · ${h(srmText)}</p>` +
        `<p style="font-size:16px;margin:8px 0"><strong data-decision="${decision.action}">Decision: ${h(verdict)}</strong></p>` +
        `<ul style="margin:0 0 8px">${decision.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>` +
        offlineStageHtml(decision.offline, true) +
        cuped.map((c) => `<p data-cuped="${h(c.variant)}" data-variance-reduction="${c.varianceReduction}" style="margin:4px 0;color:#374151">${h(c.text)}</p>`).join('') +
        `<div style="overflow-x:auto">${tableHtml(view)}</div>` +
        offlineSectionHtml(view.offline, true) +
        charts.join('') +
        (link ? `<p><a href="${h(link)}">Open the results page</a></p>` : '') +
        `</section>`,
    );
    textSections.push(
      [
        `${view.name} (${view.key})`,
        `Status: ${view.status}. ${srmText}.`,
        `Decision: ${verdict}`,
        ...decision.reasons.map((r) => `  - ${r}`),
        offlineStageText(decision.offline),
        ...cuped.map((c) => c.text),
        tableText(view),
        offlineSectionText(view.offline),
        link ? `Results page: ${link}` : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
  });
  for (const key of input.missing) {
    htmlSections.push(`<p>Experiment <code>${h(key)}</code> was not found.</p>`);
    textSections.push(`Experiment ${key} was not found.`);
  }
  if (input.experiments.length === 0 && input.missing.length === 0) {
    htmlSections.push('<p>No running experiments.</p>');
    textSections.push('No running experiments.');
  }
  const headline = input.experiments.map((v) => `${v.key}: ${verdictText(v.results)}`).join('; ');
  const subject = `Verdict report "${input.reportName}"${headline ? ` – ${headline}` : ''}`;
  const html =
    `<!doctype html><html><body style="font-family:-apple-system,Segoe UI,Arial,sans-serif;color:#111827;max-width:960px">` +
    `<h1 style="font-size:20px">${h(input.reportName)}</h1>${htmlSections.join('')}` +
    `<p style="color:#6b7280;font-size:12px">Sent by Verdict. Lifts are relative to the control, with their intervals.</p></body></html>`;
  const text = `${input.reportName}\n\n${textSections.join('\n\n')}\n\nLifts are relative to the control, with their intervals.\n`;
  return { subject, html, text, attachments };
}
