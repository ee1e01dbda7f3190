import { SnapshotIndex, assign, compileExperiment, variantRanges } from './assign';
import { ALLOCATION_SALT_SUFFIX, LAYER_SALT_SUFFIX, bucketOf } from './bucket';
import { murmur3, utf8Bytes } from './murmur3';
import { ExperimentSnapshot, VariantSnapshot } from './snapshot';
import vectors from './vectors.json';

function variant(key: string, weight: number, extra: Partial<VariantSnapshot> = {}): VariantSnapshot {
  return { key, weight, isControl: false, rolledBack: false, config: { model: key }, ...extra };
}

function experiment(extra: Partial<ExperimentSnapshot> = {}): ExperimentSnapshot {
  return {
    key: 'exp',
    salt: 'salt-1',
    unitType: 'user',
    state: 'running',
    phase: 1,
    trafficAllocation: 1,
    variants: [variant('control', 0.5, { isControl: true }), variant('treatment', 0.5)],
    forced: {},
    winner: null,
    layer: null,
    ...extra,
  };
}

const units = Array.from({ length: 20_000 }, (_, i) => `u${i}`);

describe('published vectors (vectors.json)', () => {
  const byKey = new Map((vectors.experiments as unknown as ExperimentSnapshot[]).map((e) => [e.key, e]));

  it('raw hash vectors', () => {
    for (const v of vectors.hashVectors) {
      expect(Buffer.from(utf8Bytes(v.input)).toString('hex')).toBe(v.inputUtf8Hex);
      expect(murmur3(v.input, v.seed)).toBe(v.hash);
    }
  });

  it('ranges, buckets and assignments', () => {
    expect(vectors.cases.length).toBeGreaterThan(400);
    for (const e of vectors.experiments) expect(variantRanges(e.variants as VariantSnapshot[])).toEqual(e.ranges);
    for (const c of vectors.cases) {
      const e = byKey.get(c.experiment)!;
      expect(Buffer.from(utf8Bytes(c.unitId)).toString('hex')).toBe(c.unitIdUtf8Hex);
      expect(bucketOf(e.salt, c.unitId)).toBe(c.buckets.variant);
      expect(bucketOf(e.salt + ALLOCATION_SALT_SUFFIX, c.unitId)).toBe(c.buckets.allocation);
      if (e.layer) expect(bucketOf(e.layer.key + LAYER_SALT_SUFFIX, c.unitId)).toBe(c.buckets.layer);
      const a = assign(e, e.key, c.unitId);
      expect({ variant: a.variant, inExperiment: a.inExperiment, reason: a.reason, phase: a.phase }).toEqual(c.expected);
      expect(new SnapshotIndex([e]).assign(e.key, c.unitId)).toBe(a);
    }
  });

  it('cover every reason but unknown_experiment, and non-ASCII ids', () => {
    const reasons = new Set(vectors.cases.map((c) => c.expected.reason));
    for (const r of ['hashed', 'forced', 'rolled_back', 'not_allocated', 'other_layer_slot', 'paused', 'stopped', 'concluded']) {
      expect(reasons).toContain(r);
    }
    expect(vectors.cases.some((c) => /[\uD800-\uDFFF]/.test(c.unitId))).toBe(true);
  });
});

describe('assign', () => {
  it('answers unknown_experiment with a null variant when there is no experiment', () => {
    expect(assign(undefined, 'nope', 'u1')).toEqual({
      experiment: 'nope',
      variant: null,
      config: null,
      inExperiment: false,
      phase: 0,
      reason: 'unknown_experiment',
    });
    expect(new SnapshotIndex(null).assign('nope', 'u1').reason).toBe('unknown_experiment');
  });

  it('returns the variant config, in experiment, reason hashed', () => {
    const a = assign(experiment(), 'exp', 'u1');
    expect(a.inExperiment).toBe(true);
    expect(a.reason).toBe('hashed');
    expect(a.config).toEqual({ model: a.variant });
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('is deterministic and depends on the salt', () => {
    const e = experiment();
    const other = experiment({ salt: 'salt-2' });
    let differ = 0;
    for (const u of units.slice(0, 1000)) {
      expect(assign(e, 'exp', u)).toBe(assign(e, 'exp', u));
      if (assign(e, 'exp', u).variant !== assign(other, 'exp', u).variant) differ++;
    }
    expect(differ).toBeGreaterThan(400);
    expect(differ).toBeLessThan(600);
  });

  it('handles any string: empty, emoji, lone surrogates', () => {
    for (const u of ['', '😀', '\uD800', '\uDFFF\uD800', 'a'.repeat(10_000)]) {
      expect(['control', 'treatment']).toContain(assign(experiment(), 'exp', u).variant);
    }
    // A lone surrogate hashes as U+FFFD, like TextEncoder.
    expect(bucketOf('s', '\uD800')).toBe(bucketOf('s', '\uFFFD'));
  });

  it('lays out the control first, then the others in declared order, normalising weights', () => {
    expect(variantRanges([variant('b', 3), variant('a', 1, { isControl: true })])).toEqual([
      { key: 'a', start: 0, end: 2500 },
      { key: 'b', start: 2500, end: 10000 },
    ]);
    // No isControl: the first variant is the control.
    expect(variantRanges([variant('x', 1), variant('y', 1), variant('z', 1)]).map((r) => r.end)).toEqual([3333, 6667, 10000]);
  });

  it('serves the control, not allocated, when no variant has weight', () => {
    const a = assign(experiment({ variants: [variant('c', 0, { isControl: true }), variant('t', 0)] }), 'exp', 'u1');
    expect(a).toMatchObject({ variant: 'c', inExperiment: false, reason: 'not_allocated' });
  });

  it('paused and stopped: everyone gets the control, not in experiment', () => {
    for (const state of ['paused', 'stopped'] as const) {
      const e = experiment({ state, forced: { u1: 'treatment' } });
      for (const u of units.slice(0, 200)) {
        expect(assign(e, 'exp', u)).toMatchObject({ variant: 'control', inExperiment: false, reason: state });
      }
    }
  });

  it('concluded: everyone gets the winner (the control if the winner is unknown)', () => {
    const e = experiment({ state: 'concluded', winner: 'treatment' });
    for (const u of units.slice(0, 200)) {
      expect(assign(e, 'exp', u)).toMatchObject({ variant: 'treatment', config: { model: 'treatment' }, inExperiment: false, reason: 'concluded' });
    }
    expect(assign(experiment({ state: 'concluded', winner: 'gone' }), 'exp', 'u1').variant).toBe('control');
  });

  it('forced units get their variant, not in experiment; unknown forced keys are ignored', () => {
    const e = experiment({ trafficAllocation: 0.01, forced: { qa: 'treatment', other: 'missing' } });
    expect(assign(e, 'exp', 'qa')).toMatchObject({ variant: 'treatment', inExperiment: false, reason: 'forced' });
    expect(assign(e, 'exp', 'other')).toEqual(assign(experiment({ trafficAllocation: 0.01 }), 'exp', 'other'));
  });

  it('a rolled-back variant keeps its range but serves the control, not in experiment', () => {
    const before = experiment({ variants: [variant('c', 1, { isControl: true }), variant('t1', 1), variant('t2', 1)] });
    const after = experiment({
      phase: 2,
      variants: [variant('c', 1, { isControl: true }), variant('t1', 1, { rolledBack: true }), variant('t2', 1)],
      forced: { qa: 't1' },
    });
    let rolled = 0;
    const wrong: string[] = [];
    for (const u of units) {
      const a = assign(before, 'exp', u);
      const b = assign(after, 'exp', u);
      if (a.variant === 't1') {
        rolled++;
        const ok = b.variant === 'c' && b.config === after.variants[0].config && !b.inExperiment && b.reason === 'rolled_back' && b.phase === 2;
        if (!ok) wrong.push(u);
      } else if (b.variant !== a.variant || !b.inExperiment) {
        wrong.push(u);
      }
    }
    expect(wrong).toEqual([]);
    expect(rolled).toBeGreaterThan(6000);
    // Forcing a unit into a rolled-back variant still serves the control.
    expect(assign(after, 'exp', 'qa')).toMatchObject({ variant: 'c', reason: 'rolled_back' });
  });

  it('layers: a unit enters only when its layer bucket is in [start, end), slots are exclusive', () => {
    const layer = (start: number, end: number) => ({ key: 'L', start, end });
    const a = experiment({ key: 'a', salt: 'sa', layer: layer(0, 0.3) });
    const b = experiment({ key: 'b', salt: 'sb', layer: layer(0.3, 1) });
    let inA = 0;
    const wrong: string[] = [];
    for (const u of units) {
      const lb = bucketOf('L' + LAYER_SALT_SUFFIX, u);
      const ra = assign(a, 'a', u);
      const rb = assign(b, 'b', u);
      if (ra.inExperiment !== lb < 3000 || rb.inExperiment !== lb >= 3000) wrong.push(u);
      if (!ra.inExperiment && (ra.variant !== 'control' || ra.reason !== 'other_layer_slot')) wrong.push(u);
      if (ra.inExperiment) inA++;
    }
    expect(wrong).toEqual([]);
    expect(inA / units.length).toBeCloseTo(0.3, 1);
  });

  it('recompiles when a deciding field changes, even on the same object', () => {
    const e = experiment();
    expect(assign(e, 'exp', 'u1').reason).toBe('hashed');
    e.state = 'paused';
    expect(assign(e, 'exp', 'u1').reason).toBe('paused');
    const index = new SnapshotIndex({ version: 'v1', generatedAt: '', experiments: [e] });
    e.state = 'running';
    e.phase = 2;
    expect(index.assign('exp', 'u1')).toMatchObject({ reason: 'hashed', phase: 2 });
    expect(compileExperiment(e)).toBe(compileExperiment(e));
  });

  it('SnapshotIndex looks experiments up by key', () => {
    const index = new SnapshotIndex({ version: 'v9', generatedAt: '', experiments: [experiment({ key: 'k1' }), experiment({ key: 'k2' })] });
    expect(index.version).toBe('v9');
    expect(index.size).toBe(2);
    expect([...index.keys()]).toEqual(['k1', 'k2']);
    expect(index.get('k2')?.key).toBe('k2');
    expect(index.has('k3')).toBe(false);
    expect(index.assign('k1', 'u1').experiment).toBe('k1');
  });
});

describe('stability when the experiment changes', () => {
  it('raising the allocation never moves a unit already in, and keeps its variant', () => {
    const steps = [0.1, 0.2, 0.35, 0.5, 1].map((trafficAllocation, i) => experiment({ trafficAllocation, phase: i + 1 }));
    const moved: string[] = [];
    for (const u of units) {
      for (let i = 1; i < steps.length; i++) {
        const prev = assign(steps[i - 1], 'exp', u);
        const next = assign(steps[i], 'exp', u);
        if (prev.inExperiment && (next.variant !== prev.variant || !next.inExperiment)) moved.push(u);
      }
    }
    expect(moved).toEqual([]);
    const share = units.filter((u) => assign(steps[0], 'exp', u).inExperiment).length / units.length;
    expect(share).toBeCloseTo(0.1, 1);
  });

  it('ramping the treatment (1% -> 5% -> 25% -> 50%) keeps every treatment unit in the treatment', () => {
    const ramp = [0.01, 0.05, 0.25, 0.5].map((w, i) =>
      experiment({ phase: i + 1, variants: [variant('control', 1 - w, { isControl: true }), variant('treatment', w)] }),
    );
    const moved: string[] = [];
    let treated = 0;
    for (const u of units) {
      for (let i = 1; i < ramp.length; i++) {
        const prev = assign(ramp[i - 1], 'exp', u).variant;
        const next = assign(ramp[i], 'exp', u).variant;
        if (prev === 'treatment' && next !== 'treatment') moved.push(u);
      }
      if (assign(ramp[0], 'exp', u).variant === 'treatment') treated++;
    }
    expect(moved).toEqual([]);
    expect(treated).toBeGreaterThan(100);
  });

  it('with more than two variants, a weight change moves exactly the units whose range changed', () => {
    const before = experiment({ variants: [variant('c', 0.5, { isControl: true }), variant('t1', 0.25), variant('t2', 0.25)] });
    const after = experiment({ phase: 2, variants: [variant('c', 0.4, { isControl: true }), variant('t1', 0.3), variant('t2', 0.3)] });
    const rangeOf = (e: ExperimentSnapshot, b: number) => variantRanges(e.variants).find((r) => b >= r.start && b < r.end)!.key;
    let moved = 0;
    const wrong: string[] = [];
    for (const u of units) {
      const b = bucketOf('salt-1', u);
      const changed = rangeOf(before, b) !== rangeOf(after, b);
      if ((assign(before, 'exp', u).variant !== assign(after, 'exp', u).variant) !== changed) wrong.push(u);
      if (changed) moved++;
    }
    expect(wrong).toEqual([]);
    // Buckets [4000, 5000) move c -> t1 and [7000, 7500) move t1 -> t2: about 15% of units.
    expect(moved / units.length).toBeCloseTo(0.15, 1);
  });
});
