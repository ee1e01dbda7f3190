import type { ShadowMetric, ShadowResult } from '../analysis/shadow-results';
import { escapeHtml as h } from './html';
import type { MetricFormat } from '../metrics/metric-registry';
import { formatInterval, formatValue } from './report-view';

/** How each compared metric reads on the page. */
const FORMATS: Record<ShadowMetric, { label: string; format: MetricFormat }> = {
  latency_ms: { label: 'Latency', format: 'ms' },
  ttft_ms: { label: 'TTFT', format: 'ms' },
  input_tokens: { label: 'Input tokens', format: 'tokens' },
  output_tokens: { label: 'Output tokens', format: 'tokens' },
  cost_usd: { label: 'Cost', format: 'usd' },
  error_rate: { label: 'Error rate', format: 'percent' },
};

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)} %`);

/** Two horizontal bars (exact, JSON agreement) with their Wilson intervals as whiskers. */
function agreementChart(s: ShadowResult): string {
  const width = 360;
  const bars: Array<[string, ShadowResult['agreement']['exact']]> = [
    ['exact', s.agreement.exact],
    ['JSON', s.agreement.json],
  ];
  const x = (v: number) => 60 + v * (width - 80);
  const rows = bars
    .map(([label, a], i) => {
      const y = 10 + i * 28;
      const bar = a.rate === null ? '' : `<rect x="60" y="${y}" width="${(x(a.rate) - 60).toFixed(1)}" height="16" fill="#2563eb"></rect>`;
      const ci = a.ci ? `<line x1="${x(a.ci[0]).toFixed(1)}" x2="${x(a.ci[1]).toFixed(1)}" y1="${y + 8}" y2="${y + 8}" stroke="#111827" stroke-width="2"></line>` : '';
      return `<text x="0" y="${y + 12}" font-size="12">${label}</text>${bar}${ci}<text x="${width - 16}" y="${y + 12}" font-size="11" text-anchor="end">${h(pct(a.rate))}</text>`;
    })
    .join('');
  return `<svg viewBox="0 0 ${width} 66" role="img" aria-label="Agreement of ${h(s.variant)} with the served answers">${rows}<line x1="60" x2="60" y1="4" y2="62" stroke="#9ca3af"></line></svg>`;
}

/** The shadow section of the results page (docs/adr/0031): one table per shadow variant, and its agreement. */
export function shadowSectionHtml(shadows: readonly ShadowResult[], alpha: number): string {
  if (shadows.length === 0) return '';
  return shadows
    .map((s) => {
      const rows = s.comparisons
        .map((c) => {
          const f = FORMATS[c.metric];
          const diff = c.difference === null ? '–' : `${c.difference >= 0 ? '+' : ''}${formatValue(c.difference, f.format)}`;
          return `<tr data-shadow-metric="${c.metric}" data-difference="${c.difference ?? ''}" data-p="${c.pValue ?? ''}"><td>${h(f.label)}</td><td>${c.n}</td><td>${h(formatValue(c.servedMean, f.format))}</td><td>${h(formatValue(c.shadowMean, f.format))}</td><td>${h(diff)}<span class="ci">${h(formatInterval(c.ci, f.format))}</span></td><td>${c.pValue === null ? '–' : h(c.pValue.toPrecision(3))} <span class="muted">${h(c.method)}</span></td></tr>`;
        })
        .join('');
      const a = s.agreement;
      const agreement = (name: string, r: typeof a.exact) =>
        `<span data-agreement="${name}" data-rate="${r.rate ?? ''}" data-n="${r.n}">${name === 'exact' ? 'Exact match' : 'JSON equal'}: ${h(pct(r.rate))}${r.ci ? ` [${h(pct(r.ci[0]))}, ${h(pct(r.ci[1]))}]` : ''} of ${r.n}</span>`;
      return `<section class="shadow" id="shadow-${h(s.variant)}" data-shadow="${h(s.variant)}" data-pairs="${s.pairs}">
<h2>Shadow: ${h(s.variant)}${s.active ? ` <span class="muted">(sampling ${h(pct(s.sampleRate))} of served calls)</span>` : ' <span class="muted">(no longer shadowed)</span>'}</h2>
<p class="muted">${s.pairs} paired calls of ${s.shadows} shadow copies recorded; each copy answered the same request as the served call, and its answer never reached the client. Differences are shadow − served, with ${h(String(Math.round((1 - alpha) * 1000) / 10))} % intervals. Dropped copies: see GET /metrics.</p>
<div class="badges">${agreement('exact', a.exact)}${agreement('json', a.json)}</div>
<div class="table-wrap"><table><thead><tr><th>Metric</th><th>Pairs</th><th>Served</th><th>Shadow</th><th>Difference</th><th>p</th></tr></thead><tbody>${rows}</tbody></table></div>
<figure class="chart" id="chart-shadow-${h(s.variant)}" style="margin:0;max-width:420px">${agreementChart(s)}</figure>
</section>`;
    })
    .join('\n');
}
