import { decide, type DecisionInput, type TreatmentEvidence } from './decision-rule';

const treatment = (over: Partial<TreatmentEvidence> = {}): TreatmentEvidence => ({
  variant: 'b', lift: 0.01, ci: [-0.02, 0.04], adjustedPValue: 0.5, guardrails: [], cheaper: false, faster: false, additionalUnits: 4000, ...over,
});
const input = (over: Partial<DecisionInput> = {}): DecisionInput => ({
  alpha: 0.05,
  control: 'a',
  primary: { metric: 'success_rate', goal: 'increase', margin: null, lowerIsBetter: false },
  srm: { ok: true, tested: true, pValue: 0.4, counts: { a: 500, b: 500 }, weights: { a: 0.5, b: 0.5 } },
  treatments: [treatment()],
  units: 1000,
  plannedUnits: null,
  ...over,
});
const breached = { metric: 'latency_p95', status: 'breached' as const, ci: [0.3, 0.5] as [number, number], margin: 0.1, direction: 'increase' as const };

describe('decide', () => {
  it('ships a treatment whose primary metric improves significantly', () => {
    const d = decide(input({ treatments: [treatment({ lift: 0.08, ci: [0.04, 0.12], adjustedPValue: 0.001 })] }));
    expect(d).toMatchObject({ action: 'ship', winner: 'b' });
    expect(d.reasons[0]).toMatch(/b improves success_rate by \+8\.0 %/);
  });

  it('ships the better of two improving treatments', () => {
    const d = decide(input({ treatments: [
      treatment({ variant: 'b', lift: 0.05, ci: [0.01, 0.09], adjustedPValue: 0.01 }),
      treatment({ variant: 'c', lift: 0.09, ci: [0.05, 0.13], adjustedPValue: 0.001 }),
    ] }));
    expect(d.winner).toBe('c');
  });

  it('treats a decrease goal as lower is better', () => {
    const primary = { metric: 'latency_ms', goal: 'decrease' as const, margin: null, lowerIsBetter: true };
    expect(decide(input({ primary, treatments: [treatment({ lift: -0.2, ci: [-0.3, -0.1], adjustedPValue: 0.001 })] })).action).toBe('ship');
    expect(decide(input({ primary, treatments: [treatment({ lift: 0.2, ci: [0.1, 0.3], adjustedPValue: 0.001 })] })).action).toBe('keep_control');
  });

  it('stops on SRM before anything else', () => {
    const d = decide(input({
      srm: { ok: false, tested: true, pValue: 1e-5, counts: { a: 5200, b: 4800 }, weights: { a: 0.5, b: 0.5 } },
      treatments: [treatment({ lift: 0.08, ci: [0.04, 0.12], adjustedPValue: 0.001 })],
    }));
    expect(d.action).toBe('stop');
    expect(d.winner).toBeUndefined();
    expect(d.reasons[0]).toMatch(/Sample ratio mismatch.*a 5200, b 4800/);
  });

  it('does not ship a treatment that breaks a guardrail, and stops', () => {
    const d = decide(input({ treatments: [treatment({ lift: 0.08, ci: [0.04, 0.12], adjustedPValue: 0.001, guardrails: [breached] })] }));
    expect(d.action).toBe('stop');
    expect(d.reasons[0]).toMatch(/Guardrail latency_p95 broken by b/);
  });

  it('ships another treatment when only one breaks a guardrail', () => {
    const d = decide(input({ treatments: [
      treatment({ variant: 'b', lift: 0.08, ci: [0.04, 0.12], adjustedPValue: 0.001, guardrails: [breached] }),
      treatment({ variant: 'c', lift: 0.05, ci: [0.01, 0.09], adjustedPValue: 0.01 }),
    ] }));
    expect(d).toMatchObject({ action: 'ship', winner: 'c' });
  });

  it('ships a non-inferior treatment only when it is cheaper or faster', () => {
    const primary = { metric: 'success_rate', goal: 'non_inferior' as const, margin: 0.02, lowerIsBetter: false };
    const equal = treatment({ lift: 0.001, ci: [-0.01, 0.012], adjustedPValue: 0.8 });
    expect(decide(input({ primary, treatments: [{ ...equal, cheaper: true }] }))).toMatchObject({ action: 'ship', winner: 'b' });
    expect(decide(input({ primary, treatments: [{ ...equal, faster: true }] })).action).toBe('ship');
    expect(decide(input({ primary, treatments: [equal] })).action).toBe('continue');
    expect(decide(input({ primary, treatments: [equal], plannedUnits: 1000 })).action).toBe('keep_control');
  });

  it('does not call a treatment non-inferior when its interval reaches past the margin', () => {
    const primary = { metric: 'success_rate', goal: 'non_inferior' as const, margin: 0.02, lowerIsBetter: false };
    const d = decide(input({ primary, treatments: [treatment({ lift: -0.005, ci: [-0.03, 0.02], cheaper: true })] }));
    expect(d.action).toBe('continue');
    const inferior = decide(input({ primary, treatments: [treatment({ lift: -0.06, ci: [-0.09, -0.03], cheaper: true })] }));
    expect(inferior).toMatchObject({ action: 'keep_control', winner: 'a' });
  });

  it('keeps the control when the treatment is significantly worse', () => {
    const d = decide(input({ treatments: [treatment({ lift: -0.08, ci: [-0.12, -0.04], adjustedPValue: 0.001 })] }));
    expect(d).toMatchObject({ action: 'keep_control', winner: 'a' });
    expect(d.reasons[0]).toMatch(/significantly worse/);
  });

  it('keeps the control at the planned size without a better treatment', () => {
    const d = decide(input({ plannedUnits: 1000, units: 1200 }));
    expect(d.action).toBe('keep_control');
    expect(d.reasons[0]).toMatch(/planned 1000 units are reached/);
  });

  it('continues otherwise, with the units still needed', () => {
    expect(decide(input({ plannedUnits: 3000, units: 1000 }))).toMatchObject({ action: 'continue', unitsNeeded: 2000 });
    expect(decide(input())).toMatchObject({ action: 'continue', unitsNeeded: 4000 });
    expect(decide(input({ treatments: [treatment({ lift: null, ci: null, adjustedPValue: null, additionalUnits: null })] })).reasons[0]).toMatch(/not enough data/);
  });

  it('an insignificant lift never ships, however large', () => {
    expect(decide(input({ treatments: [treatment({ lift: 0.3, ci: [-0.01, 0.61], adjustedPValue: 0.06 })] })).action).toBe('continue');
  });
});

describe('decide: the offline stage (docs/adr/0035)', () => {
  const better = { lift: 0.08, ci: [0.04, 0.12] as [number, number], adjustedPValue: 0.001 };
  const stage = (variant: string, action: 'ready_for_live' | 'not_ready', finishedAt = '2026-12-01T10:00:00.000Z') => ({
    variant,
    action,
    evaluationId: `run-${variant}`,
    dataset: 'sums',
    datasetVersion: 2,
    finishedAt,
    reasons: [action === 'not_ready' ? `${variant}, exact: significantly worse than a (-20.0 points)` : `${variant}, exact: non-inferior to a`],
  });

  it('without runs, every treatment is not_evaluated and the live rule decides alone', () => {
    const d = decide(input({ treatments: [treatment({ ...better })] }));
    expect(d).toMatchObject({ action: 'ship', winner: 'b', offline: { action: 'not_evaluated', evaluationId: null, finishedAt: null, reasons: ['No complete offline evaluation run yet.'] } });
    expect(d.offline.candidates).toEqual([expect.objectContaining({ variant: 'b', action: 'not_evaluated', evaluationId: null })]);
    expect(d.reasons.join(' ')).not.toMatch(/[Oo]ffline/);
  });

  it('a not_ready stage blocks the ship the live evidence alone would make, with the offline reasons', () => {
    const d = decide(input({ treatments: [treatment({ ...better })], offline: [stage('b', 'not_ready')] }));
    expect(d.action).toBe('continue');
    expect(d.winner).toBeUndefined();
    expect(d.unitsNeeded).toBeNull();
    expect(d.reasons[0]).toBe('b would ship on live evidence, but offline evaluation says not ready (run run-b on dataset sums v2): b, exact: significantly worse than a (-20.0 points)');
    expect(d.reasons.filter((r) => r.includes('not ready'))).toHaveLength(1);
    expect(d.offline).toMatchObject({ action: 'not_ready', evaluationId: 'run-b', finishedAt: '2026-12-01T10:00:00.000Z' });
  });

  it('ships another treatment that is ready, and says the blocked one is not', () => {
    const d = decide(input({
      treatments: [treatment({ variant: 'b', lift: 0.1, ci: [0.05, 0.15], adjustedPValue: 0.001 }), treatment({ variant: 'c', ...better })],
      offline: [stage('b', 'not_ready', '2026-12-01T09:00:00.000Z'), stage('c', 'ready_for_live', '2026-12-01T11:00:00.000Z')],
    }));
    expect(d).toMatchObject({ action: 'ship', winner: 'c' });
    expect(d.reasons).toContain('Offline evaluation says c is ready for live traffic (run run-c on dataset sums v2).');
    expect(d.reasons.some((r) => r.startsWith('b would ship on live evidence, but offline evaluation says not ready'))).toBe(true);
    // The stage as a whole is not ready (one treatment is); it names the latest run used.
    expect(d.offline).toMatchObject({ action: 'not_ready', evaluationId: 'run-c' });
  });

  it('never overrides a broken guardrail or SRM: they stop, the offline stage is a reason beside them', () => {
    const broken = decide(input({ treatments: [treatment({ ...better, guardrails: [breached] })], offline: [stage('b', 'ready_for_live')] }));
    expect(broken.action).toBe('stop');
    const srm = decide(input({ srm: { ok: false, tested: true, pValue: 1e-6, counts: { a: 5200, b: 4800 }, weights: { a: 0.5, b: 0.5 } }, offline: [stage('b', 'not_ready')] }));
    expect(srm.action).toBe('stop');
    expect(srm.reasons[srm.reasons.length - 1]).toMatch(/^Offline evaluation says b is not ready for live traffic \(run run-b/);
  });

  it('an inconclusive treatment that is not ready keeps running, the offline reason shown', () => {
    const d = decide(input({ offline: [stage('b', 'not_ready')] }));
    expect(d.action).toBe('continue');
    expect(d.unitsNeeded).toBe(4000);
    expect(d.reasons[d.reasons.length - 1]).toMatch(/^Offline evaluation says b is not ready for live traffic/);
  });

  it('a ready stage changes no live decision', () => {
    for (const t of [treatment(), treatment({ lift: -0.08, ci: [-0.12, -0.04], adjustedPValue: 0.001 })]) {
      const without = decide(input({ treatments: [t] }));
      const ready = decide(input({ treatments: [t], offline: [stage('b', 'ready_for_live')] }));
      expect({ action: ready.action, winner: ready.winner, reasons: ready.reasons }).toEqual({ action: without.action, winner: without.winner, reasons: without.reasons });
      expect(ready.offline.action).toBe('ready_for_live');
    }
  });
});
