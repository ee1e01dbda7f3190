import type { ExperimentEntity } from '../experiments/experiment.entity';
import type { ExperimentSnapshot, ServingState } from './core/snapshot';

/** What SDKs and /v1/assign evaluate of an experiment: no metrics, no people's text. */
export function toExperimentSnapshot(e: ExperimentEntity): ExperimentSnapshot {
  return {
    key: e.key,
    salt: e.salt,
    unitType: e.unitType,
    state: e.status as ServingState,
    phase: e.phase,
    trafficAllocation: e.trafficAllocation,
    variants: e.variants.map((v) => ({
      key: v.key,
      weight: v.weight,
      isControl: v.isControl,
      rolledBack: v.rolledBack,
      config: v.config,
    })),
    forced: e.forced,
    winner: e.winner,
    layer: e.layer,
  };
}
