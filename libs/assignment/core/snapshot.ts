/**
 * The config snapshot: everything needed to assign a unit without a network call.
 * The API serves it at GET /v1/sdk/config; the API's own /v1/assign and the SDK
 * both evaluate it with `assign()` from this folder, so their answers are equal.
 *
 * This folder is pure TypeScript: no framework, no I/O. The SDK ships it.
 */

export type UnitType = 'user' | 'session' | 'request';

/**
 * How an experiment serves traffic:
 * - running: units are hashed into variants and exposures are logged;
 * - paused, stopped: everyone gets the control, nothing is logged;
 * - concluded: everyone gets the winner, nothing is logged.
 */
export type ServingState = 'running' | 'paused' | 'stopped' | 'concluded';

export interface VariantSnapshot {
  key: string;
  /** Share of the allocated traffic, normalised so that all weights sum to 1. */
  weight: number;
  isControl: boolean;
  /**
   * A rolled-back variant keeps its bucket range (so no other unit moves) but the
   * units that hash into it are served the control.
   */
  rolledBack: boolean;
  /** Free-form model config (provider, model, parameters...). */
  config: Record<string, unknown> | null;
}

/** A slot in a mutually exclusive layer: the fraction [start, end) of the layer's bucket space. */
export interface LayerSlot {
  key: string;
  start: number;
  end: number;
}

export interface ExperimentSnapshot {
  key: string;
  /** Hashing salt, fixed at creation; never changes while the experiment lives. */
  salt: string;
  unitType: UnitType;
  state: ServingState;
  /** Allocation phase; a new phase starts whenever weights, allocation or rollbacks change. */
  phase: number;
  /** Share of eligible units that enter the experiment, in (0, 1]. */
  trafficAllocation: number;
  variants: VariantSnapshot[];
  /** QA overrides: unit id -> variant key. Forced units are served but not counted as exposed. */
  forced: Record<string, string>;
  /** The winner, once concluded. */
  winner: string | null;
  layer: LayerSlot | null;
}

export interface ConfigSnapshot {
  /** Changes whenever any experiment in the snapshot changes; used as the ETag. */
  version: string;
  generatedAt: string;
  experiments: ExperimentSnapshot[];
}

export type AssignmentReason =
  | 'hashed' // in the experiment, variant picked by hashing
  | 'forced' // a QA override
  | 'rolled_back' // hashed into a rolled-back variant: served the control
  | 'not_allocated' // outside the traffic allocation
  | 'other_layer_slot' // the unit belongs to another experiment of the same layer
  | 'paused'
  | 'stopped'
  | 'concluded'
  | 'unknown_experiment';

export interface Assignment {
  experiment: string;
  /** The variant served; null only for an unknown experiment. */
  variant: string | null;
  config: Record<string, unknown> | null;
  /** True when the unit counts in the analysis (an exposure is logged). */
  inExperiment: boolean;
  phase: number;
  reason: AssignmentReason;
}
