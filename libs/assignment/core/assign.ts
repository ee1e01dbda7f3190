import { ALLOCATION_SALT_SUFFIX, BUCKETS, LAYER_SALT_SUFFIX, PreparedSalt, bucketOfPrepared, edgeOf, prepareSalt } from './bucket';
import { Assignment, AssignmentReason, ConfigSnapshot, ExperimentSnapshot, VariantSnapshot } from './snapshot';

/** A variant's slice of the bucket space: buckets in [start, end). */
export interface VariantRange {
  key: string;
  start: number;
  end: number;
}

/**
 * The bucket layout of an experiment's variants: the control first, then the other
 * variants in their declared order, contiguous from 0 to BUCKETS. With two variants the
 * treatment therefore sits at the top of the space and grows downwards as it ramps, so a
 * unit already in the treatment stays there. Edges are floor(W_i / total * BUCKETS + 0.5)
 * where W_i is the running sum of the (non-negative) weights in layout order; the last
 * edge is BUCKETS.
 */
export function variantRanges(variants: readonly VariantSnapshot[]): VariantRange[] {
  const ordered = layoutOrder(variants);
  let total = 0;
  for (const v of ordered) total += weightOf(v);
  const ranges: VariantRange[] = [];
  let running = 0;
  let start = 0;
  for (let i = 0; i < ordered.length; i++) {
    running += weightOf(ordered[i]);
    const end = total > 0 ? (i === ordered.length - 1 ? BUCKETS : edgeOf(running / total)) : 0;
    ranges.push({ key: ordered[i].key, start, end });
    start = end;
  }
  return ranges;
}

function weightOf(v: VariantSnapshot): number {
  return v.weight > 0 && Number.isFinite(v.weight) ? v.weight : 0;
}

function controlOf(variants: readonly VariantSnapshot[]): VariantSnapshot | undefined {
  return variants.find((v) => v.isControl) ?? variants[0];
}

function layoutOrder(variants: readonly VariantSnapshot[]): VariantSnapshot[] {
  const control = controlOf(variants);
  return control ? [control, ...variants.filter((v) => v !== control)] : [];
}

function result(
  experiment: ExperimentSnapshot,
  variant: VariantSnapshot | undefined,
  inExperiment: boolean,
  reason: AssignmentReason,
): Assignment {
  // Shared by every unit that lands here, so frozen: callers must not mutate it.
  return Object.freeze({
    experiment: experiment.key,
    variant: variant ? variant.key : null,
    config: variant ? variant.config : null,
    inExperiment,
    phase: experiment.phase,
    reason,
  });
}

/**
 * An experiment compiled once for fast assignment: prepared hash prefixes, integer
 * edges, and the (frozen) Assignment objects to return, so `assign` allocates nothing.
 */
export class CompiledExperiment {
  readonly fixed: Assignment | null;
  readonly forced: Map<string, Assignment> | null;
  readonly layerSalt: PreparedSalt | null;
  readonly layerStart: number;
  readonly layerEnd: number;
  readonly otherSlot: Assignment;
  readonly allocationSalt: PreparedSalt | null;
  readonly allocationEdge: number;
  readonly notAllocated: Assignment;
  readonly variantSalt: PreparedSalt;
  readonly edges: Int32Array;
  readonly results: Assignment[];

  constructor(readonly source: ExperimentSnapshot) {
    const e = source;
    // Copies of the fields that decide the answer: if any changes, the cache is stale.
    this.salt = e.salt;
    this.state = e.state;
    this.phase = e.phase;
    this.trafficAllocation = e.trafficAllocation;
    this.variants = e.variants;
    this.forcedMap = e.forced;
    this.winner = e.winner;
    this.layer = e.layer;

    const control = controlOf(e.variants);
    const served = (v: VariantSnapshot) => (v.rolledBack && v !== control ? control : v);
    this.fixed =
      e.state === 'paused' || e.state === 'stopped'
        ? result(e, control, false, e.state)
        : e.state === 'concluded'
          ? result(e, e.variants.find((v) => v.key === e.winner) ?? control, false, 'concluded')
          : null;

    const forcedEntries = Object.entries(e.forced ?? {});
    this.forced = null;
    if (forcedEntries.length > 0) {
      this.forced = new Map();
      for (const [unitId, key] of forcedEntries) {
        const v = e.variants.find((x) => x.key === key);
        // An unknown forced key is ignored: the unit is hashed like any other.
        if (v) this.forced.set(unitId, result(e, served(v), false, served(v) === v ? 'forced' : 'rolled_back'));
      }
    }

    this.layerSalt = e.layer ? prepareSalt(e.layer.key + LAYER_SALT_SUFFIX) : null;
    this.layerStart = e.layer ? edgeOf(e.layer.start) : 0;
    this.layerEnd = e.layer ? edgeOf(e.layer.end) : BUCKETS;
    this.otherSlot = result(e, control, false, 'other_layer_slot');

    this.allocationEdge = edgeOf(e.trafficAllocation);
    // Allocation 100% admits every unit: skip its hash (same answer, half the work).
    this.allocationSalt = this.allocationEdge < BUCKETS ? prepareSalt(e.salt + ALLOCATION_SALT_SUFFIX) : null;
    this.notAllocated = result(e, control, false, 'not_allocated');

    this.variantSalt = prepareSalt(e.salt);
    const ranges = variantRanges(e.variants);
    this.edges = Int32Array.from(ranges, (r) => r.end);
    this.results = ranges.map((r) => {
      const v = e.variants.find((x) => x.key === r.key)!;
      const s = served(v);
      return s === v ? result(e, v, true, 'hashed') : result(e, s, false, 'rolled_back');
    });
  }

  private readonly salt: string;
  private readonly state: string;
  private readonly phase: number;
  private readonly trafficAllocation: number;
  private readonly variants: unknown;
  private readonly forcedMap: unknown;
  private readonly winner: string | null;
  private readonly layer: unknown;

  /** True while the snapshot's deciding fields are unchanged (snapshots should be replaced, not mutated). */
  matches(e: ExperimentSnapshot): boolean {
    return (
      e.phase === this.phase &&
      e.state === this.state &&
      e.salt === this.salt &&
      e.trafficAllocation === this.trafficAllocation &&
      e.variants === this.variants &&
      e.forced === this.forcedMap &&
      e.winner === this.winner &&
      e.layer === this.layer
    );
  }

  assign(unitId: string): Assignment {
    if (this.fixed !== null) return this.fixed;
    if (this.forced !== null) {
      const f = this.forced.get(unitId);
      if (f !== undefined) return f;
    }
    if (this.layerSalt !== null) {
      const b = bucketOfPrepared(this.layerSalt, unitId);
      if (b < this.layerStart || b >= this.layerEnd) return this.otherSlot;
    }
    if (this.allocationSalt !== null && bucketOfPrepared(this.allocationSalt, unitId) >= this.allocationEdge) {
      return this.notAllocated;
    }
    const b = bucketOfPrepared(this.variantSalt, unitId);
    const edges = this.edges;
    for (let i = 0; i < edges.length; i++) {
      if (b < edges[i]) return this.results[i];
    }
    // Only when no variant has a positive weight.
    return this.notAllocated;
  }
}

const cache = new WeakMap<ExperimentSnapshot, CompiledExperiment>();

/** The compiled form of an experiment, cached by object (recompiled if its deciding fields changed). */
export function compileExperiment(experiment: ExperimentSnapshot): CompiledExperiment {
  let c = cache.get(experiment);
  if (c === undefined || !c.matches(experiment)) {
    c = new CompiledExperiment(experiment);
    cache.set(experiment, c);
  }
  return c;
}

export function unknownExperiment(experimentKey: string): Assignment {
  return { experiment: experimentKey, variant: null, config: null, inExperiment: false, phase: 0, reason: 'unknown_experiment' };
}

/**
 * Assigns a unit to a variant. Order of the rules:
 * 1. no experiment -> variant null, reason unknown_experiment;
 * 2. paused/stopped -> control; concluded -> the winner (control if unknown); not in experiment;
 * 3. forced unit -> its variant (control if that variant is rolled back), not in experiment;
 * 4. layer: outside [start, end) of the layer bucket -> control, other_layer_slot;
 * 5. allocation bucket >= allocation edge -> control, not_allocated;
 * 6. variant bucket -> its range's variant, in experiment; a rolled-back variant's range
 *    serves the control, reason rolled_back, not in experiment.
 * The returned object is frozen and shared between units: do not mutate it.
 */
export function assign(experiment: ExperimentSnapshot | undefined, experimentKey: string, unitId: string): Assignment {
  if (experiment === undefined) return unknownExperiment(experimentKey);
  return compileExperiment(experiment).assign(unitId);
}

/** O(1) lookup of a config snapshot's experiments by key, compiled for assignment. */
export class SnapshotIndex {
  private readonly byKey = new Map<string, CompiledExperiment>();
  readonly version: string | null;

  constructor(snapshot: ConfigSnapshot | readonly ExperimentSnapshot[] | null | undefined) {
    const experiments = snapshot == null ? [] : Array.isArray(snapshot) ? snapshot : (snapshot as ConfigSnapshot).experiments;
    this.version = snapshot != null && !Array.isArray(snapshot) ? (snapshot as ConfigSnapshot).version : null;
    for (const e of experiments) this.byKey.set(e.key, compileExperiment(e));
  }

  get(experimentKey: string): ExperimentSnapshot | undefined {
    return this.byKey.get(experimentKey)?.source;
  }

  has(experimentKey: string): boolean {
    return this.byKey.has(experimentKey);
  }

  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  get size(): number {
    return this.byKey.size;
  }

  assign(experimentKey: string, unitId: string): Assignment {
    const c = this.byKey.get(experimentKey);
    if (c === undefined) return unknownExperiment(experimentKey);
    if (!c.matches(c.source)) {
      const fresh = compileExperiment(c.source);
      this.byKey.set(experimentKey, fresh);
      return fresh.assign(unitId);
    }
    return c.assign(unitId);
  }
}
