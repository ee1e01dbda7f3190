import { Injectable } from '@nestjs/common';
import { ResultsService } from '../analysis/results.service';
import { builtInMetric } from '../metrics/metric-registry';
import { escapeHtml as h } from './html';
import { cumulativeLiftChart, latencyChart, primaryLiftChart } from './report-charts';
import { offlineSectionHtml, offlineStageHtml } from './offline-section';
import { shadowSectionHtml } from './shadow-section';
import { instancesSectionHtml, type InstanceRow, type InstanceRowsReader } from './instances-section';
import { PageLinkSigner } from './page-link';
import { ReportContentService } from './report-content.service';
import { TABLE_METRICS, cupedLines, formatInterval, formatLift, formatValue, verdictText, type ExperimentView } from './report-view';

export const PAGE_REFRESH_SECONDS = 30;
/** The daily series carries means, not quantiles: a quantile primary metric is charted by the mean it is a quantile of (latency_ms). */
function dailyFallback(metric: string): string | undefined {
  const definition = builtInMetric(metric);
  return definition?.kind === 'quantile' ? definition.of : undefined;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#111827;background:#f9fafb}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.4rem;margin:.2rem 0}
.muted{color:#6b7280}
.verdict{border-radius:8px;padding:12px 16px;margin:12px 0;background:#fff;border-left:6px solid #6b7280}
.verdict.ship{border-color:#16a34a}.verdict.keep_control{border-color:#2563eb}.verdict.stop{border-color:#dc2626}.verdict.continue{border-color:#ca8a04}
.verdict strong{font-size:1.3rem}
.offline-stage{margin-top:8px;padding-top:8px;border-top:1px solid #e5e7eb;font-size:.9rem;overflow-wrap:anywhere}
.offline-stage-title{font-weight:600;margin:0 0 4px}
.offline-stage li[data-offline="not_ready"]{color:#991b1b}.offline-stage li[data-offline="ready_for_live"]{color:#166534}
.offline-stage li li{color:#374151}
.cuped{margin:6px 0;color:#374151;font-size:.9rem}
.badges span{display:inline-block;margin:2px 6px 2px 0;padding:2px 8px;border-radius:999px;background:#e5e7eb;font-size:.85rem}
.badges .bad{background:#fee2e2;color:#991b1b}.badges .good{background:#dcfce7;color:#166534}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;background:#fff;border-radius:8px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:8px 10px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;position:sticky;left:0;background:#fff}
th{background:#f3f4f6}
tr.cooled td{background:#fef2f2}
#instances-table td:nth-child(2),#instances-table th:nth-child(2){text-align:left}
h2{font-size:1.1rem;margin:1rem 0 .2rem}
.ci{display:block;color:#6b7280;font-size:.75rem}
.sig{font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
.chart{background:#fff;border-radius:8px;padding:8px}
.chart svg{width:100%;height:auto;display:block}
h2{font-size:1.1rem;margin:1rem 0 .2rem}
@media (max-width:600px){main{padding:10px}h1{font-size:1.15rem}.charts{grid-template-columns:1fr}}
`;

/** The results page: the same verdict, table and charts as the email, as SVG, refreshed every 30 s. */
@Injectable()
export class ResultsPageService {
  constructor(
    private readonly content: ReportContentService,
    private readonly results: ResultsService,
    private readonly links: PageLinkSigner,
  ) {}

  /** A signed link to the page, valid for `hours`. */
  link(projectId: string, key: string, hours: number): { url: string; expiresAt: Date } {
    return this.links.sign(projectId, key, hours);
  }

  /** The page for a signed link's token (the token names the project); `instances` reads the upstream pools' state when the app serves a gateway. */
  async renderSigned(key: string, token: string | undefined, instances?: InstanceRowsReader): Promise<string> {
    const claims = this.links.verify(token, key);
    return this.render(claims.projectId, key, instances);
  }

  async render(projectId: string, key: string, instances?: InstanceRowsReader): Promise<string> {
    const view = await this.content.view(projectId, key);
    const daily = await this.results.dailySeries(projectId, key);
    const primary = view.results.primaryMetric.name;
    const dailyMetric = daily.metrics.includes(primary) ? primary : dailyFallback(primary);
    const size = { width: 560, height: 300 };
    const charts = [
      { id: 'lift', svg: primaryLiftChart(view.results, size) },
      { id: 'latency', svg: latencyChart(view.results, size) },
      ...(dailyMetric && daily.days.length ? [{ id: 'cumulative', svg: cumulativeLiftChart(daily, dailyMetric, size) }] : []),
    ];
    return page(view, charts, instances ? instances(projectId, key) : []);
  }
}

function page(view: ExperimentView, charts: Array<{ id: string; svg: string }>, instances: readonly InstanceRow[]): string {
  const { decision, srm } = view.results;
  const srmBadge = !srm.tested
    ? '<span>SRM: not tested yet</span>'
    : srm.ok
      ? `<span class="good">SRM ok (p = ${h(srm.pValue.toPrecision(2))})</span>`
      : `<span class="bad">Sample ratio mismatch (p = ${h(srm.pValue.toPrecision(2))})</span>`;
  const guardrails = view.results.guardrails
    .map((g) => `<span class="${g.status === 'breached' ? 'bad' : g.status === 'ok' ? 'good' : ''}">${h(g.metric)} (${h(g.variant)}): ${h(g.status)}</span>`)
    .join('');
  const head = ['Variant', 'Units', ...TABLE_METRICS.flatMap((m) => [m.label, `${m.label} lift`])].map((l) => `<th>${h(l)}</th>`).join('');
  const rows = view.rows
    .map((row) => {
      const cells = row.cells
        .map((c, i) => {
          const format = TABLE_METRICS[i].format;
          return (
            `<td data-metric="${c.metric}" data-value="${c.value ?? ''}">${h(formatValue(c.value, format))}<span class="ci">${h(formatInterval(c.ci, format))}</span></td>` +
            `<td class="${c.significant ? 'sig' : ''}" data-lift="${c.metric}" data-value="${c.lift ?? ''}">${row.isControl ? 'control' : h(formatLift(c.lift, c.liftCi))}</td>`
          );
        })
        .join('');
      return `<tr data-variant="${h(row.key)}"><td>${h(row.key)}${row.isControl ? ' <span class="muted">(control)</span>' : ''}</td><td data-metric="units" data-value="${row.units}">${row.units}</td>${cells}</tr>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${PAGE_REFRESH_SECONDS}">
<title>${h(view.name)} – Verdict</title>
<style>${CSS}</style></head>
<body><main>
<p class="muted">Verdict · experiment <code>${h(view.key)}</code> · status ${h(view.status)} · phase ${view.results.phase}</p>
<h1>${h(view.name)}</h1>
<section class="verdict ${h(decision.action)}" id="verdict" data-decision="${h(decision.action)}">
<strong>${h(verdictText(view.results))}</strong>
<ul>${decision.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>
${offlineStageHtml(decision.offline)}
</section>
<div class="badges" id="checks">${srmBadge}${guardrails}</div>
${cupedLines(view.results).map((c) => `<p class="cuped" data-cuped="${h(c.variant)}" data-variance-reduction="${c.varianceReduction}">${h(c.text)}</p>`).join('')}
<div class="table-wrap"><table id="variants"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div>
${offlineSectionHtml(view.offline)}
${shadowSectionHtml(view.results.shadow ?? [], view.results.alpha)}
${instancesSectionHtml(instances)}
<div class="charts">${charts.map((c) => `<figure class="chart" id="chart-${c.id}" style="margin:0">${c.svg}</figure>`).join('')}</div>
<p class="muted">Computed ${h(view.results.computedAt)} · refreshes every ${PAGE_REFRESH_SECONDS} s · lifts are relative to the control with their ${view.results.sequential ? 'always-valid' : 'fixed-horizon'} intervals.</p>
</main></body></html>`;
}
