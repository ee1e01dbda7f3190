import { Resvg } from '@resvg/resvg-js';
import * as echarts from 'echarts';
import type { DailySeries } from '../analysis/daily-series';
import type { ExperimentResults, Interval } from '../analysis/results.types';
import { quantileMetricsOf } from '../metrics/metric-registry';

export interface ChartSize {
  width: number;
  height: number;
}

const COLORS = ['#5470c6', '#91cc75', '#fac858', '#ee6666', '#73c0de', '#3ba272', '#fc8452', '#9a60b4'];

/** Server-side echarts to an SVG string: no DOM, no animation (ADR 0010). */
function render(option: echarts.EChartsOption, size: ChartSize): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: size.width, height: size.height });
  try {
    chart.setOption({ animation: false, color: COLORS, textStyle: { fontFamily: 'DejaVu Sans, Arial, sans-serif' }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/** PNG for email clients, which do not show SVG: rendered at twice the size for sharp text. */
export function svgToPng(svg: string, width: number): Buffer {
  const png = new Resvg(svg, { fitTo: { mode: 'width', value: width * 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return Buffer.from(png.render().asPng());
}

const pct = (x: number) => `${(x * 100).toFixed(0)} %`;

/** An estimate with its interval per category: a whisker and a dot, drawn by a custom series. */
function intervalSeries(points: Array<{ estimate: number; ci: Interval | null }>): echarts.SeriesOption {
  return {
    type: 'custom',
    data: points.map((p, i) => [i, p.estimate, p.ci ? p.ci[0] : p.estimate, p.ci ? p.ci[1] : p.estimate]),
    renderItem: (_params, api) => {
      const [x, y] = api.coord([api.value(0), api.value(1)]);
      const low = api.coord([api.value(0), api.value(2)])[1];
      const high = api.coord([api.value(0), api.value(3)])[1];
      const color = COLORS[Number(api.value(0)) % COLORS.length];
      return {
        type: 'group',
        children: [
          { type: 'line', shape: { x1: x, y1: low, x2: x, y2: high }, style: { stroke: color, lineWidth: 3 } },
          { type: 'line', shape: { x1: x - 10, y1: low, x2: x + 10, y2: low }, style: { stroke: color, lineWidth: 2 } },
          { type: 'line', shape: { x1: x - 10, y1: high, x2: x + 10, y2: high }, style: { stroke: color, lineWidth: 2 } },
          { type: 'circle', shape: { cx: x, cy: y, r: 6 }, style: { fill: color } },
        ],
      };
    },
    encode: { x: 0, y: [1, 2, 3] },
  };
}

/** Relative lift of the primary metric against the control, with its interval, per treatment. */
export function primaryLiftChart(results: ExperimentResults, size: ChartSize): string {
  const metric = results.primaryMetric.name;
  const comparisons = results.comparisons.filter((c) => c.metric === metric);
  const points = comparisons.map((c) => ({ estimate: c.relativeLift ?? 0, ci: c.ci }));
  return render(
    {
      title: { text: `Lift of ${metric} vs control`, left: 'center', textStyle: { fontSize: 14 } },
      grid: { left: 60, right: 20, top: 40, bottom: 40 },
      xAxis: { type: 'category', data: comparisons.map((c) => c.variant) },
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => pct(v) }, scale: true },
      series: [
        intervalSeries(points),
        { type: 'line', data: [], markLine: { silent: true, symbol: 'none', data: [{ yAxis: 0 }], lineStyle: { color: '#888', type: 'dashed' }, label: { show: false } } },
      ],
    },
    size,
  );
}

/** Latency quantiles per variant (the registry's levels: p50 to p99), grouped by percentile. */
export function latencyChart(results: ExperimentResults, size: ChartSize): string {
  const quantiles = quantileMetricsOf('latency_ms').map((q) => q.levelKey as `p${number}`);
  return render(
    {
      title: { text: 'Latency percentiles (ms)', left: 'center', textStyle: { fontSize: 14 } },
      legend: { bottom: 0 },
      grid: { left: 60, right: 20, top: 40, bottom: 50 },
      xAxis: { type: 'category', data: [...quantiles] },
      yAxis: { type: 'value' },
      series: results.variants.map((v) => ({
        type: 'bar',
        name: v.key,
        data: quantiles.map((q) => {
          const value = v.metrics.latency_ms?.[q]?.value;
          return value === undefined || value === null ? null : Math.round(value);
        }),
      })),
    },
    size,
  );
}

/**
 * Cumulative relative lift of a metric over days with its interval, per treatment: the
 * interval is a band (a stacked area of the lower bound, then the width, the lower one transparent).
 */
export function cumulativeLiftChart(series: DailySeries, metric: string, size: ChartSize): string {
  const dates = series.days.map((d) => d.date);
  const treatments = [...new Set(series.days.flatMap((d) => d.comparisons.map((c) => c.variant)))];
  const lines: echarts.SeriesOption[] = treatments.flatMap((variant, i) => {
    const points = series.days.map((d) => d.comparisons.find((c) => c.variant === variant && c.metric === metric));
    const color = COLORS[(i + 1) % COLORS.length];
    return [
      { type: 'line', name: `${variant} low`, stack: `band-${variant}`, data: points.map((p) => p?.ci?.[0] ?? null), lineStyle: { opacity: 0 }, symbol: 'none', areaStyle: { opacity: 0 } },
      { type: 'line', name: `${variant} interval`, stack: `band-${variant}`, data: points.map((p) => (p?.ci ? p.ci[1] - p.ci[0] : null)), lineStyle: { opacity: 0 }, symbol: 'none', areaStyle: { color, opacity: 0.2 } },
      { type: 'line', name: variant, data: points.map((p) => p?.relativeLift ?? null), lineStyle: { color, width: 2 }, itemStyle: { color } },
    ];
  });
  return render(
    {
      title: { text: `Cumulative lift of ${metric} vs control`, left: 'center', textStyle: { fontSize: 14 } },
      legend: { bottom: 0, data: treatments },
      grid: { left: 60, right: 20, top: 40, bottom: 50 },
      xAxis: { type: 'category', data: dates, boundaryGap: false },
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => pct(v) }, scale: true },
      series: lines,
    },
    size,
  );
}
