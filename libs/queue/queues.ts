/**
 * Every queue, job name and payload in one place. The API enqueues only through the
 * typed producers in the context modules; workers consume with one processor per queue.
 */
export const QUEUES = {
  exposures: 'exposures',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** One exposure of a unit to a variant, as /v1/assign or an SDK saw it. */
export interface ExposureRecord {
  projectId: string;
  experimentId: string;
  unitId: string;
  variant: string;
  phase: number;
  /** ISO-8601 time of the exposure. */
  at: string;
  /** How many times this unit was seen in the batch window (repeats are counted, never new units). */
  count?: number;
}

export interface ExposureBatchJob {
  exposures: ExposureRecord[];
}

export const JOBS = {
  exposureBatch: 'exposure-batch',
} as const;
