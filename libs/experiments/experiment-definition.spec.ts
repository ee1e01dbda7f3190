import { checkCapture, checkForced, checkMetrics, checkShadow, checkVariants, LIMITS } from './experiment-definition';
import type { Variant } from './experiment.types';

const config = (bytes: number) => ({ prompt: 'x'.repeat(bytes - '{"prompt":""}'.length) });

describe('checkVariants bounds', () => {
  it('refuses weights past 1e6, whose sum could overflow, and never normalises to NaN', () => {
    const { variants, errors } = checkVariants([
      { key: 'a', weight: 1e308, isControl: true },
      { key: 'b', weight: 1e308 },
    ]);
    expect(errors.map((e) => e.field)).toEqual(['variants.0.weight', 'variants.1.weight']);
    expect(variants.every((v) => Number.isFinite(v.weight))).toBe(true);
    expect(checkVariants([{ key: 'a', weight: LIMITS.variantWeight, isControl: true }, { key: 'b', weight: 1 }]).errors).toEqual([]);
  });

  it('bounds each config and the experiment total, as JSON bytes (UTF-8)', () => {
    const at = (bytes: number[]) => checkVariants(bytes.map((b, i) => ({ key: `v${i}`, weight: 1, isControl: i === 0, config: config(b) }))).errors;
    expect(at([LIMITS.variantConfigBytes, 100])).toEqual([]);
    expect(at([LIMITS.variantConfigBytes + 1, 100])).toEqual([{ field: 'variants.0.config', message: expect.stringMatching(/65537 bytes/) }]);
    expect(at([60_000, 60_000, 60_000, 60_000, 30_000])).toEqual([{ field: 'variants', message: expect.stringMatching(/per experiment/) }]);
    // Multi-byte characters count as bytes, not characters.
    expect(checkVariants([{ key: 'a', weight: 1, isControl: true, config: { p: 'é'.repeat(40_000) } }, { key: 'b', weight: 1 }]).errors).toHaveLength(1);
  });

  it('counts a config kept from before when a PATCH omits it', () => {
    const existing: Variant[] = ['a', 'b'].map((key, i) => ({ key, name: key, weight: 0.5, isControl: i === 0, rolledBack: false, config: config(60_000), pricing: null }));
    const { errors } = checkVariants(
      [{ key: 'a', weight: 1 }, { key: 'b', weight: 1, config: config(60_000) }, { key: 'c', weight: 1, isControl: true, config: config(60_000) }, { key: 'd', weight: 1, config: config(60_000) }, { key: 'e', weight: 1, config: config(60_000) }],
      existing,
    );
    expect(errors).toEqual([{ field: 'variants', message: expect.stringMatching(/per experiment/) }]);
  });
});

describe('checkForced bounds', () => {
  const variants = [{ key: 'a' }, { key: 'b' }] as Variant[];
  it('refuses more than 1,000 forced units and unit ids over 256 characters', () => {
    expect(checkForced(Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`u${i}`, 'a'])), variants)).toEqual([{ field: 'forced', message: expect.stringMatching(/1000/) }]);
    expect(checkForced({ ['u'.repeat(257)]: 'a' }, variants)).toEqual([{ field: 'forced', message: expect.stringMatching(/1-256/) }]);
    expect(checkForced({ u1: 'a', u2: 'c' }, variants)).toEqual([{ field: 'forced.u2', message: expect.any(String) }]);
  });
});

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

describe('shadow variants (docs/adr/0031)', () => {
  const inputs = [
    { key: 'v1', weight: 1, isControl: true },
    { key: 'v2', weight: 0 },
  ];
  const upstreams = { v1: {}, v2: {} };
  const plans = { ramp: false, bandit: false };

  it('allows weight 0 for the shadow variant only, never for the control', () => {
    expect(checkVariants(inputs, undefined, 'v2').errors).toEqual([]);
    expect(checkVariants(inputs).errors.map((e) => e.field)).toEqual(['variants.1.weight']);
    expect(checkVariants([{ key: 'v1', weight: 0, isControl: true }, { key: 'v2', weight: 1 }], undefined, 'v1').errors.map((e) => e.field)).toEqual(['variants.0.weight']);
    expect(checkVariants(inputs, undefined, 'v2').variants.map((v) => v.weight)).toEqual([1, 0]);
  });

  it('names the field and the reason of each bad shadow', () => {
    const { variants } = checkVariants(inputs, undefined, 'v2');
    const check = (shadow: { variant: string; sampleRate: number }, p = plans, u: Record<string, unknown> = upstreams) => checkShadow(shadow, variants, u, p).map((e) => `${e.field}: ${e.message}`);
    expect(check({ variant: 'v2', sampleRate: 1 })).toEqual([]);
    expect(check({ variant: 'v2', sampleRate: 0 })).toEqual([expect.stringMatching(/^shadow.sampleRate: must be a number in \(0, 1\]/)]);
    expect(check({ variant: 'v2', sampleRate: Number.NaN })).toHaveLength(1);
    expect(check({ variant: 'v3', sampleRate: 0.5 })).toEqual([expect.stringMatching(/^shadow.variant: "v3" is not a variant/)]);
    expect(check({ variant: 'v1', sampleRate: 0.5 })).toEqual([expect.stringMatching(/^shadow.variant: the control/)]);
    expect(check({ variant: 'v2', sampleRate: 0.5 }, plans, { v1: {} })).toEqual([expect.stringMatching(/no upstream/)]);
    expect(check({ variant: 'v2', sampleRate: 0.5 }, { ramp: true, bandit: true }).map((m) => m.split(':')[0])).toEqual(['shadow', 'shadow']);
    const weighted = checkVariants([inputs[0], { key: 'v2', weight: 1 }]).variants;
    expect(checkShadow({ variant: 'v2', sampleRate: 0.5 }, weighted, upstreams, plans)).toEqual([{ field: 'shadow.variant', message: expect.stringMatching(/weight > 0/) }]);
  });
});

describe('capture settings (docs/adr/0039)', () => {
  it('accepts the bounds and names each bad field', () => {
    expect(checkCapture({ sampleRate: 1, maxChars: 1, retentionDays: 1 })).toEqual([]);
    expect(checkCapture({ sampleRate: 0.01, maxChars: 100_000, retentionDays: 365 })).toEqual([]);
    const fields = (c: Record<string, unknown>) => checkCapture(c as never).map((e) => e.field);
    expect(fields({ sampleRate: 0, maxChars: 10, retentionDays: 1 })).toEqual(['capture.sampleRate']);
    expect(fields({ sampleRate: Number.NaN, maxChars: 0.5, retentionDays: 366 })).toEqual(['capture.sampleRate', 'capture.maxChars', 'capture.retentionDays']);
    expect(fields({ sampleRate: '1', maxChars: '10', retentionDays: null })).toEqual(['capture.sampleRate', 'capture.maxChars', 'capture.retentionDays']);
    expect(fields(null as never)).toEqual(['capture']);
  });
});
