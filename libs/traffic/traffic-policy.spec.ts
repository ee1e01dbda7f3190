import type { GuardrailResult, SrmSummary } from '../analysis/results.types';
import type { Variant } from '../experiments/experiment.types';
import { calculateResults, type ArmAggregates } from '../analysis/results-calculator';
import { decideTrafficActions, pooledArms, primaryOf, type TrafficInput } from './traffic-policy';

const variant = (key: string, weight: number, extra: Partial<Variant> = {}): Variant => ({
  key,
  name: key,
  weight,
  isControl: key === 'control',
  rolledBack: false,
  config: null,
  pricing: null,
  ...extra,
});
const srm = (ok = true): SrmSummary => ({ phase: 1, pValue: ok ? 0.5 : 0.0001, ok, tested: true, counts: {}, weights: {} });
const guardrail = (variantKey: string, status: GuardrailResult['status']): GuardrailResult => ({
  variant: variantKey,
  metric: 'error_rate',
  direction: 'increase',
  margin: 0.2,
  relativeLift: status === 'breached' ? 2 : 0,
  ci: status === 'breached' ? [1.2, 2.8] : [-0.1, 0.1],
  status,
});
const now = new Date('2026-11-28T12:00:00Z');
const input = (overrides: Partial<TrafficInput> = {}): TrafficInput => ({
  variants: [variant('control', 0.5), variant('b', 0.5)],
  ramp: null,
  bandit: null,
  guardrails: [guardrail('b', 'ok')],
  srm: srm(),
  phaseUnits: 1000,
  primary: { name: 'success_rate', rate: true, lowerIsBetter: false },
  arms: [],
  now,
  seed: 1,
  ...overrides,
});
const ramp = { steps: [0.05, 0.25, 0.5], minMinutes: 30, minUnits: 500, step: 0, held: false, stepStartedAt: '2026-11-28T11:00:00Z' };

describe('decideTrafficActions', () => {
  it('rolls back a treatment whose guardrail is breached, with the evidence', () => {
    const actions = decideTrafficActions(input({ guardrails: [guardrail('b', 'breached')] }));
    expect(actions).toEqual([{ kind: 'rollback', variant: 'b', evidence: { guardrail: guardrail('b', 'breached'), srm: srm() } }]);
  });

  it('does nothing when guardrails are ok or inconclusive, or the variant is already rolled back', () => {
    expect(decideTrafficActions(input({ guardrails: [guardrail('b', 'inconclusive')] }))).toEqual([]);
    expect(
      decideTrafficActions(input({ variants: [variant('control', 0.5), variant('b', 0.5, { rolledBack: true })], guardrails: [guardrail('b', 'breached')] })),
    ).toEqual([]);
  });

  it('advances a ramp only after its time, its units, with SRM clear and nothing breached', () => {
    expect(decideTrafficActions(input({ ramp }))[0]).toMatchObject({ kind: 'advance_ramp', evidence: { fromStep: 0, phaseUnits: 1000 } });
    expect(decideTrafficActions(input({ ramp: { ...ramp, stepStartedAt: '2026-11-28T11:45:00Z' } }))).toEqual([]);
    expect(decideTrafficActions(input({ ramp, phaseUnits: 499 }))).toEqual([]);
    expect(decideTrafficActions(input({ ramp, srm: srm(false) }))).toEqual([]);
    expect(decideTrafficActions(input({ ramp: { ...ramp, held: true } }))).toEqual([]);
    expect(decideTrafficActions(input({ ramp: { ...ramp, step: 2 } }))).toEqual([]);
    expect(decideTrafficActions(input({ ramp, guardrails: [guardrail('b', 'breached')] }))[0].kind).toBe('rollback');
  });

  it('reallocates a bandit by Thompson sampling with every arm at or above the floor', () => {
    const bandit = { floor: 0.1, minUnitsPerArm: 100, everyMinutes: 10, lastReallocatedAt: null };
    const arms = [
      { variant: 'control', units: 400, phaseUnits: 400, mean: 0.6, se: null },
      { variant: 'b', units: 400, phaseUnits: 400, mean: 0.7, se: null },
      { variant: 'c', units: 400, phaseUnits: 400, mean: 0.5, se: null },
    ];
    const variants = [variant('control', 1 / 3), variant('b', 1 / 3), variant('c', 1 / 3)];
    const [action] = decideTrafficActions(input({ variants, bandit, arms, guardrails: [] }));
    expect(action.kind).toBe('reallocate');
    if (action.kind !== 'reallocate') return;
    expect(Object.values(action.weights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    expect(Math.min(...Object.values(action.weights))).toBeGreaterThanOrEqual(0.1 - 1e-12);
    expect(action.weights.b).toBeGreaterThan(action.weights.control);
    expect(action.weights.control).toBeGreaterThan(action.weights.c - 1e-12);
    // Not before every arm has its minimum, nor sooner than everyMinutes after the last time.
    expect(decideTrafficActions(input({ variants, bandit, arms: arms.map((a) => ({ ...a, phaseUnits: 50 })), guardrails: [] }))).toEqual([]);
    expect(decideTrafficActions(input({ variants, bandit: { ...bandit, lastReallocatedAt: '2026-11-28T11:55:00Z' }, arms, guardrails: [] }))).toEqual([]);
  });
});

describe('the monitor reads the metric registry and the results', () => {
  const metrics = (primary: { name: string; goal: 'increase' | 'decrease' | 'non_inferior' }, custom: Array<{ name: string; lowerIsBetter?: boolean }> = []) => ({
    primary: { ...primary, margin: 0.05 },
    custom: custom.map((c) => ({ lowerIsBetter: false, denominator: 'reported' as const, label: c.name, format: 'decimal' as const, ...c })),
  });

  it('takes the bandit\'s direction from the goal and the metric, as the decision does', () => {
    expect(primaryOf(metrics({ name: 'cost_usd', goal: 'non_inferior' }))).toEqual({ name: 'cost_usd', rate: false, lowerIsBetter: true });
    expect(primaryOf(metrics({ name: 'latency_p95', goal: 'non_inferior' }))).toEqual({ name: 'latency_p95', rate: false, lowerIsBetter: true });
    expect(primaryOf(metrics({ name: 'success_rate', goal: 'non_inferior' }))).toEqual({ name: 'success_rate', rate: true, lowerIsBetter: false });
    expect(primaryOf(metrics({ name: 'error_rate', goal: 'decrease' }))).toEqual({ name: 'error_rate', rate: true, lowerIsBetter: true });
    expect(primaryOf(metrics({ name: 'retries', goal: 'non_inferior' }, [{ name: 'retries', lowerIsBetter: true }])).lowerIsBetter).toBe(true);
  });

  it('uses each estimate\'s own standard error: alpha changes the guardrail intervals, not the bandit\'s evidence', () => {
    const arm = (variant: string, n: number, mean: number, sd: number): ArmAggregates => ({
      variant, units: n, events: n, costSum: mean * n, costUnknown: 0, ratios: {}, histograms: {},
      moments: {
        cost_usd: { n, sum: mean * n, sumSquares: (n - 1) * sd * sd + n * mean * mean },
        error_rate: { n, sum: n * 0.1, sumSquares: n * 0.1 },
        $events: { n, sum: 0, sumSquares: 0 },
      },
    });
    const arms = [arm('control', 400, 0.01, 0.004), arm('b', 400, 0.006, 0.003)];
    const variants = [variant('control', 0.5), variant('b', 0.5)];
    const at = (alpha: number) =>
      calculateResults({
        experiment: {
          key: 'x', unitType: 'request', variants,
          metrics: { ...metrics({ name: 'cost_usd', goal: 'non_inferior' }), secondary: [], guardrails: [{ name: 'error_rate', maxRelativeIncrease: 0.2 }], scoreRange: { min: 0, max: 1 } },
          stats: { alpha, sequential: true, plannedUnits: null },
        },
        phase: 1, arms, srm: srm(),
      });
    const loose = at(0.05);
    const strict = at(0.01);
    const width = (r: typeof loose) => r.guardrails[0].ci![1] - r.guardrails[0].ci![0];
    expect(width(strict)).toBeGreaterThan(width(loose) * 1.1);
    const phases = (r: typeof loose) => [{ ...r, experiment: 'x', unitType: 'request', phase: 1, alpha: 0, sequential: true, primaryMetric: { name: 'cost_usd', goal: 'non_inferior' as const, margin: 0.05 }, srm: srm(), computedAt: '', dataVersion: '', shadow: [] }];
    const [c, b] = pooledArms(variants, 'cost_usd', phases(strict));
    expect(c.se).toBeCloseTo(0.004 / Math.sqrt(400), 12);
    expect(b.se).toBeCloseTo(0.003 / Math.sqrt(400), 12);
    expect(pooledArms(variants, 'cost_usd', phases(loose))).toEqual([c, b]);
  });

  it('pools an arm over phases: n-weighted mean, se from the phases\' standard errors', () => {
    const results = (n: number, mean: number, se: number) => ({ variants: [{ key: 'control', metrics: { cost_usd: { mean, se, n, ci: null } } }] }) as never;
    const [pooled] = pooledArms([variant('control', 1)], 'cost_usd', [results(100, 1, 0.1), results(300, 2, 0.05)]);
    expect(pooled).toMatchObject({ units: 400, phaseUnits: 300, mean: 1.75 });
    expect(pooled.se).toBeCloseTo(Math.sqrt((100 * 0.1) ** 2 + (300 * 0.05) ** 2) / 400, 12);
  });
});
