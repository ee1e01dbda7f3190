import { SnapshotIndex } from '../assignment/core/assign';
import type { ExperimentSnapshot } from '../assignment/core/snapshot';
import { validateFeedback, validateOutcome, validateOutcomeBatch, type ValidationContext } from './outcome-validator';

const experiment: ExperimentSnapshot = {
  key: 'exp', salt: 's', unitType: 'user', state: 'running', phase: 2, trafficAllocation: 1,
  variants: [
    { key: 'a', weight: 0.5, isControl: true, rolledBack: false, config: null },
    { key: 'b', weight: 0.5, isControl: false, rolledBack: false, config: null },
  ],
  forced: { qa: 'b' }, winner: null, layer: null,
};
const index = new SnapshotIndex([experiment]);
const ctx: ValidationContext = {
  index,
  ids: new Map([['exp', '00000000-0000-4000-8000-000000000001']]),
  rules: () => ({ experimentId: 'x', createdAt: Date.parse('2026-11-01T00:00:00Z'), scoreRange: { min: 0, max: 1 }, customMetrics: new Set(['thumbs']), pricing: new Map([['a', { inputPer1M: 2, outputPer1M: 4 }], ['b', { inputPer1M: 2, outputPer1M: 4 }]]), shadowVariant: null }),
  now: Date.parse('2026-11-28T12:00:00Z'),
};

describe('validateOutcome', () => {
  it('derives variant and phase, computes the cost from pricing', () => {
    const r = validateOutcome({ id: '1', experiment: 'exp', unitId: 'u1', inputTokens: 1_000_000, outputTokens: 500_000 }, ctx);
    expect(r.ok && r.value).toMatchObject({ variant: index.assign('exp', 'u1').variant, phase: 2, costUsd: 4, costComputed: true });
  });

  it('keeps an unknowable cost null, never zero', () => {
    const r = validateOutcome({ id: '1', experiment: 'exp', unitId: 'u1', inputTokens: 10 }, ctx);
    expect(r.ok && r.value).toMatchObject({ costUsd: null, costComputed: false });
  });

  it('lets a forced unit report any variant of the experiment', () => {
    expect(validateOutcome({ id: '1', experiment: 'exp', unitId: 'qa', variant: 'a' }, ctx).ok).toBe(true);
    expect(validateOutcome({ id: '1', experiment: 'exp', unitId: 'qa', variant: 'zz' }, ctx).ok).toBe(false);
  });

  it('keeps a gateway call where it was served when the unit moved while it was in flight, and only there', () => {
    const u = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8'].find((unit) => index.assign('exp', unit).variant === 'b')!;
    // A plain outcome naming the unit's former variant is refused; the gateway's, served on it in phase 1, keeps variant and phase.
    expect(validateOutcome({ id: '1', experiment: 'exp', unitId: u, variant: 'a' }, ctx).ok).toBe(false);
    const served = validateOutcome({ id: '1', experiment: 'exp', unitId: u, variant: 'a' }, ctx, { variant: 'a', phase: 1 });
    expect(served.ok && served.value).toMatchObject({ variant: 'a', phase: 1 });
    const mismatch = validateOutcome({ id: '1', experiment: 'exp', unitId: u, variant: 'b' }, ctx, { variant: 'a', phase: 1 });
    expect(mismatch.ok ? [] : mismatch.errors.map((e) => e.field)).toEqual(['variant']);
    expect(validateOutcome({ id: '1', experiment: 'exp', unitId: u, variant: 'zz' }, ctx, { variant: 'zz', phase: 1 }).ok).toBe(false);
  });

  it('reports every problem of an event with its field', () => {
    const r = validateOutcome(
      { id: 'x'.repeat(129), experiment: 'exp', unitId: 'u1', latencyMs: -1, costUsd: -2, score: 2, timestamp: '2026-11-28T12:06:00Z', metrics: { nope: 1 }, extra: true },
      ctx,
    );
    expect(r.ok ? [] : r.errors.map((e) => e.field).sort()).toEqual(['costUsd', 'extra', 'id', 'latencyMs', 'metrics.nope', 'score', 'timestamp']);
  });

  it('refuses what cannot be stored, naming the field, and keeps checking the rest', () => {
    const r = validateOutcome(
      {
        id: 'e\u0000', experiment: 'exp', unitId: 'u\ud800', latencyMs: 1e200, ttftMs: 1e-200, inputTokens: 2 ** 63, outputTokens: 1.5,
        costUsd: 1e308, score: 5, error: 'x\udc00', metrics: { thumbs: 1e13 }, timestamp: '2026-10-31T23:54:00Z',
      },
      ctx,
    );
    expect(r.ok ? [] : r.errors.map((e) => e.field).sort()).toEqual([
      'costUsd', 'error', 'id', 'inputTokens', 'latencyMs', 'metrics.thumbs', 'outputTokens', 'score', 'timestamp', 'ttftMs', 'unitId',
    ]);
    const timestamp = r.ok ? null : r.errors.find((e) => e.field === 'timestamp')!.message;
    expect(timestamp).toMatch(/before the experiment was created/);
  });

  it('accepts an event from just after creation (less clock skew) and refuses one a computed cost cannot hold', () => {
    expect(validateOutcome({ id: '1', experiment: 'exp', unitId: 'u1', timestamp: '2026-10-31T23:56:00Z' }, ctx).ok).toBe(true);
    const priced: ValidationContext = {
      ...ctx,
      rules: () => ({ ...ctx.rules('exp')!, pricing: new Map([['a', { inputPer1M: 1e300, outputPer1M: 1 }], ['b', { inputPer1M: 1e300, outputPer1M: 1 }]]) }),
    };
    const r = validateOutcome({ id: '1', experiment: 'exp', unitId: 'u1', inputTokens: 1e9, outputTokens: 1 }, priced);
    expect(r.ok ? null : r.errors).toEqual([{ field: 'costUsd', message: expect.stringMatching(/computed from the variant's pricing/) }]);
  });

  it('accepts a timestamp up to 5 minutes ahead', () => {
    expect(validateOutcome({ id: '1', experiment: 'exp', unitId: 'u1', timestamp: '2026-11-28T12:04:59Z' }, ctx).ok).toBe(true);
  });
});

describe('validateFeedback', () => {
  it('needs an event id and some feedback', () => {
    expect(validateFeedback({ eventId: 'e1', score: 0.5 }).ok).toBe(true);
    const empty = validateFeedback({ eventId: 'e1' });
    expect(empty.ok ? null : empty.errors[0].message).toMatch(/carries no feedback/);
  });

  it('checks the batch shape as the DTO pipe did: an events array of at most 1,000 and no other field', () => {
    expect(validateOutcomeBatch({ events: [] }).ok).toBe(true);
    const errors = (body: unknown) => {
      const checked = validateOutcomeBatch(body);
      return checked.ok ? [] : checked.errors;
    };
    expect(errors({ nope: [] })).toEqual([
      { field: 'nope', message: 'property nope should not exist' },
      { field: 'events', message: 'must be an array' },
    ]);
    expect(errors(null)).toEqual([{ field: 'events', message: 'must be an array' }]);
    expect(errors({ events: new Array(1001).fill({}) })).toEqual([{ field: 'events', message: 'must contain no more than 1000 elements' }]);
  });
});

describe('validateOutcome, shadow outcomes (docs/adr/0031)', () => {
  const withShadow: ValidationContext = { ...ctx, rules: (key) => ({ ...ctx.rules(key)!, shadowVariant: 'b' }) };
  const unitOfA = Array.from({ length: 200 }, (_, i) => `u${i}`).find((u) => index.assign('exp', u).variant === 'a' && index.assign('exp', u).inExperiment)!;

  it('accepts the shadow variant for a unit assigned another one, keeps the pairing and the match flags, and prices it at the shadow\'s prices', () => {
    const r = validateOutcome({ id: 's1', experiment: 'exp', unitId: unitOfA, variant: 'b', shadowOf: 'served-1', exactMatch: true, jsonMatch: null, inputTokens: 1_000_000, outputTokens: 0 }, withShadow);
    expect(r.ok && r.value).toMatchObject({ variant: 'b', shadowOf: 'served-1', exactMatch: true, jsonMatch: null, costUsd: 2 });
  });

  it('refuses a shadow outcome naming another variant, or for an experiment without a shadow', () => {
    const wrong = validateOutcome({ id: 's2', experiment: 'exp', unitId: unitOfA, variant: 'a', shadowOf: 'served-2' }, withShadow);
    expect(!wrong.ok && wrong.errors).toEqual([expect.objectContaining({ field: 'variant' })]);
    const none = validateOutcome({ id: 's3', experiment: 'exp', unitId: unitOfA, variant: 'b', shadowOf: 'served-3' }, ctx);
    expect(!none.ok && none.errors).toEqual([expect.objectContaining({ field: 'shadowOf' })]);
  });

  it('refuses match flags on an ordinary outcome', () => {
    const r = validateOutcome({ id: 's4', experiment: 'exp', unitId: unitOfA, exactMatch: true }, withShadow);
    expect(!r.ok && r.errors).toEqual([expect.objectContaining({ field: 'exactMatch' })]);
  });
});
