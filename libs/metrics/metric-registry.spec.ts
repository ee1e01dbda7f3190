import {
  BUILT_IN_METRICS,
  BUILT_IN_METRIC_NAMES,
  MetricCatalog,
  builtInMetric,
  dailyMetrics,
  lowerIsBetterForGoal,
  quantileMetricsOf,
  reservedMetricName,
  sumMetrics,
} from './metric-registry';

describe('the metric registry', () => {
  it('names every metric once, with the design\'s built-in names and the latency and ttft quantiles', () => {
    expect(new Set(BUILT_IN_METRIC_NAMES).size).toBe(BUILT_IN_METRIC_NAMES.length);
    expect(sumMetrics().map((m) => m.name)).toEqual([
      'success_rate', 'score', 'error_rate', 'latency_ms', 'ttft_ms', 'input_tokens', 'output_tokens', 'cost_usd', 'cost_per_success',
    ]);
    expect(quantileMetricsOf('latency_ms').map((m) => m.name)).toEqual(['latency_p50', 'latency_p90', 'latency_p95', 'latency_p99']);
    expect(quantileMetricsOf('ttft_ms').map((m) => m.name)).toEqual(['ttft_p50', 'ttft_p90', 'ttft_p95', 'ttft_p99']);
  });

  it('has no quantile that nothing computes: p75 is neither a metric nor a free custom name', () => {
    expect(builtInMetric('latency_p75')).toBeUndefined();
    expect(reservedMetricName('latency_p75')).toBe(true);
    expect(reservedMetricName('ttft_p75')).toBe(true);
    expect(reservedMetricName('thumbs_up')).toBe(false);
    expect(reservedMetricName('nps_p2')).toBe(false);
  });

  it('divides every mean and rate by the events that reported its value (or by every event, when every event reports it)', () => {
    for (const m of sumMetrics().filter((x) => x.kind !== 'ratio')) {
      const { numerator: y, denominator: z } = m;
      const overReporting = z.take === 'reported' && z.of === y.of;
      const overAll = z.of === 'event' && (y.of === 'error' || y.of === 'event');
      expect({ metric: m.name, ok: overReporting || overAll }).toEqual({ metric: m.name, ok: true });
      expect(m.moment).toBe(m.name);
    }
  });

  it('keeps per day exactly the metrics outcome_daily has columns for', () => {
    // The columns of migrations/1795847000000-outcome-daily.ts; a new daily metric needs a migration.
    expect(dailyMetrics().map((m) => m.name)).toEqual(['success_rate', 'score', 'error_rate', 'latency_ms', 'cost_usd', 'cost_per_success']);
  });

  it('says which way is better, for a metric and for a goal on it', () => {
    const cost = builtInMetric('cost_usd')!;
    const success = builtInMetric('success_rate')!;
    expect(cost.lowerIsBetter).toBe(true);
    expect(builtInMetric('latency_p95')!.lowerIsBetter).toBe(true);
    expect(success.lowerIsBetter).toBe(false);
    expect(lowerIsBetterForGoal('non_inferior', cost)).toBe(true);
    expect(lowerIsBetterForGoal('non_inferior', success)).toBe(false);
    expect(lowerIsBetterForGoal('increase', cost)).toBe(false);
    expect(lowerIsBetterForGoal('decrease', success)).toBe(true);
  });

  it('gives declared custom metrics the same shape, with defaults', () => {
    const catalog = new MetricCatalog([{ name: 'thumbs_up' }, { name: 'retries', lowerIsBetter: true, denominator: 'events', format: 'decimal', label: 'Retries' }]);
    expect(catalog.get('thumbs_up')).toMatchObject({ kind: 'mean', source: 'custom', lowerIsBetter: false, denominator: 'reported', label: 'thumbs_up', format: 'decimal' });
    expect(catalog.get('retries')).toMatchObject({ lowerIsBetter: true, denominator: 'events', label: 'Retries' });
    expect(catalog.estimated().map((m) => m.name).slice(-2)).toEqual(['thumbs_up', 'retries']);
    expect(catalog.comparedByDefault().map((m) => m.name)).toEqual([
      ...sumMetrics().map((m) => m.name), 'latency_p50', 'latency_p90', 'latency_p95', 'latency_p99', 'thumbs_up', 'retries',
    ]);
  });

  it('labels and formats every metric', () => {
    for (const m of BUILT_IN_METRICS) {
      expect(m.label.length).toBeGreaterThan(0);
      expect(['percent', 'decimal', 'ms', 'usd', 'tokens']).toContain(m.format);
    }
    expect(builtInMetric('latency_p95')!.label).toBe('p95 latency');
  });
});
