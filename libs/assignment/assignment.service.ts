import { Injectable } from '@nestjs/common';
import type { FieldError } from '../errors/domain-error';
import { ExperimentNotFoundError } from '../experiments/experiments.errors';
import type { ExposureRecord } from '../queue/queues';
import type { Assignment } from './core/snapshot';
import { ExposureBuffer } from './exposure-buffer';
import { ExposureProducer } from './exposure.producer';
import { SnapshotService } from './snapshot.service';

export interface AssignRequest {
  experiment: string;
  unitId: string;
}

export interface SdkExposure {
  experiment: string;
  unitId: string;
  variant: string;
  phase?: number;
  timestamp?: string;
}

/** Clock skew we tolerate on client timestamps. */
const MAX_FUTURE_MS = 5 * 60_000;

@Injectable()
export class AssignmentService {
  constructor(
    private readonly snapshots: SnapshotService,
    private readonly buffer: ExposureBuffer,
    private readonly producer: ExposureProducer,
  ) {}

  /** Assigns from memory; logs the exposure of an in-experiment unit off the request path. */
  assign(projectId: string, request: AssignRequest): Assignment {
    const project = this.snapshots.get(projectId);
    if (!project.index.has(request.experiment)) throw new ExperimentNotFoundError(request.experiment);
    const assignment = project.index.assign(request.experiment, request.unitId);
    if (assignment.inExperiment && assignment.variant) {
      this.buffer.observe(projectId, project.ids.get(request.experiment)!, request.unitId, assignment.variant, assignment.phase);
    }
    return assignment;
  }

  /** Like assign() for many units; an unknown experiment is reported per item, not for the whole batch. */
  assignBatch(projectId: string, requests: AssignRequest[]): Array<Assignment | { experiment: string; error: string }> {
    return requests.map((request) => {
      try {
        return this.assign(projectId, request);
      } catch (error) {
        if (error instanceof ExperimentNotFoundError) return { experiment: request.experiment, error: error.message };
        throw error;
      }
    });
  }

  /**
   * Exposures from SDKs that assign locally: each is checked against the snapshot
   * (the variant must be the one the unit is served in that phase) and the valid
   * ones are enqueued before the answer, so an acknowledged exposure is never lost.
   */
  async recordExposures(
    projectId: string,
    exposures: SdkExposure[],
  ): Promise<{ accepted: number; rejected: Array<{ index: number; errors: FieldError[] }> }> {
    const project = this.snapshots.get(projectId);
    const records: ExposureRecord[] = [];
    const rejected: Array<{ index: number; errors: FieldError[] }> = [];
    const now = Date.now();
    exposures.forEach((exposure, index) => {
      const errors: FieldError[] = [];
      const experimentId = project.ids.get(exposure.experiment);
      if (!experimentId) {
        rejected.push({ index, errors: [{ field: 'experiment', message: `no served experiment "${exposure.experiment}"` }] });
        return;
      }
      const expected = project.index.assign(exposure.experiment, exposure.unitId);
      if (!expected.inExperiment) {
        errors.push({ field: 'unitId', message: `is not in the experiment (${expected.reason})` });
      } else if (expected.variant !== exposure.variant) {
        errors.push({ field: 'variant', message: `is "${exposure.variant}" but the unit is assigned "${expected.variant}"` });
      }
      if (exposure.phase !== undefined && exposure.phase !== expected.phase) {
        errors.push({ field: 'phase', message: `is ${exposure.phase} but the current phase is ${expected.phase}` });
      }
      const at = exposure.timestamp ? Date.parse(exposure.timestamp) : now;
      if (exposure.timestamp && (Number.isNaN(at) || at > now + MAX_FUTURE_MS)) {
        errors.push({ field: 'timestamp', message: 'must be an ISO-8601 time not in the future' });
      }
      if (errors.length) {
        rejected.push({ index, errors });
        return;
      }
      records.push({
        projectId,
        experimentId,
        unitId: exposure.unitId,
        variant: exposure.variant,
        phase: expected.phase,
        at: new Date(at).toISOString(),
      });
    });
    await this.producer.enqueue(records);
    return { accepted: records.length, rejected };
  }
}
