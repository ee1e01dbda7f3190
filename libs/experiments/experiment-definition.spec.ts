import { checkMetrics } from './experiment-definition';

const primary = { name: 'success_rate', goal: 'increase' as const };

describe('checkMetrics', () => {
  it('accepts the registry\'s metrics and quantiles', () => {
    const { errors } = checkMetrics({
      primary,
      secondary: [{ name: 'cost_per_success', goal: 'decrease' }, { name: 'ttft_p99', goal: 'decrease' }],
      guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }, { name: 'input_tokens', maxRelativeIncrease: 0.2 }],
    });
    expect(errors).toEqual([]);
  });

  it('refuses a quantile level that nothing computes, as a goal, a guardrail or a custom name', () => {
    const { errors } = checkMetrics({
      primary: { name: 'latency_p75', goal: 'decrease' },
      guardrails: [{ name: 'ttft_p75', maxRelativeIncrease: 0.1 }],
      custom: [{ name: 'latency_p75' }],
    });
    expect(errors.map((e) => e.field)).toEqual(['metrics.custom.0.name', 'metrics.primary.name', 'metrics.guardrails.0.name']);
    expect(errors[1].message).toMatch(/not a computed quantile: the quantiles are latency_p50, latency_p90, latency_p95, latency_p99/);
  });

  it('stores custom metrics with the registry\'s full shape (direction, denominator, label, format)', () => {
    const { metrics, errors } = checkMetrics({ primary: { name: 'thumbs_up', goal: 'increase' }, custom: [{ name: 'thumbs_up' }, { name: 'retries', lowerIsBetter: true, denominator: 'events' }] });
    expect(errors).toEqual([]);
    expect(metrics.custom).toEqual([
      { name: 'thumbs_up', lowerIsBetter: false, denominator: 'reported', label: 'thumbs_up', format: 'decimal' },
      { name: 'retries', lowerIsBetter: true, denominator: 'events', label: 'retries', format: 'decimal' },
    ]);
  });

  it('refuses custom names taken by built-ins, duplicates, and unknown names', () => {
    const { errors } = checkMetrics({ primary: { name: 'nope', goal: 'increase' }, custom: [{ name: 'score' }, { name: 'x' }, { name: 'x' }] });
    expect(errors.map((e) => e.field)).toEqual(['metrics.custom.0.name', 'metrics.custom.2.name', 'metrics.primary.name']);
  });
});
