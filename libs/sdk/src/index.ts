export { VerdictClient, createClient } from './verdict-client';
export type { RunOptions } from './verdict-client';
export { VerdictError } from './verdict-error';
export type { VerdictErrorCode } from './verdict-error';
export { extractUsage, errorCode } from './usage';
export type { Usage } from './usage';
export type {
  Assignment,
  BatchOptions,
  ClientOptions,
  ClientStats,
  ConfigSnapshot,
  ExposureEvent,
  OutcomeEvent,
  OutcomeInput,
  QueueStats,
  ReadyResult,
  RefreshOptions,
  VerdictHooks,
} from './types';
export { SnapshotIndex, assign, variantRanges } from '../../assignment/core/assign';
export { BUCKETS, bucketOf } from '../../assignment/core/bucket';
export type { ExperimentSnapshot, VariantSnapshot, LayerSlot, ServingState, AssignmentReason } from '../../assignment/core/snapshot';
