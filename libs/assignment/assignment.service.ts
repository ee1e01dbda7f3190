import { Injectable } from '@nestjs/common';
import type { FieldError } from '../errors/domain-error';
import { checkExposureEvent, defaultWindow, experimentWindow } from '../storable/storable';
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
   * Exposures from SDKs that assign locally: each is checked for what can be stored
   * (libs/storable/storable.ts) and against the snapshot (the variant must be the one the
   * unit is served in that phase, the time not before the experiment was created), and the
   * valid ones are enqueued, as one job of this project, before the answer: an acknowledged
   * exposure is never lost.
   */
  async recordExposures(
    projectId: string,
    exposures: unknown[],
  ): Promise<{ accepted: number; rejected: Array<{ index: number; errors: FieldError[] }> }> {
    const project = this.snapshots.get(projectId);
    const records: ExposureRecord[] = [];
    const rejected: Array<{ index: number; errors: FieldError[] }> = [];
    const now = Date.now();
    exposures.forEach((input, index) => {
      const errors: FieldError[] = [];
      const key = (input as { experiment?: unknown } | null)?.experiment;
      const created = typeof key === 'string' ? project.created.get(key) : undefined;
      const exposure = checkExposureEvent(input, created === undefined ? defaultWindow(now) : experimentWindow(created, now), errors);
      const experimentId = exposure ? project.ids.get(exposure.experiment) : undefined;
      if (exposure && !experimentId) errors.push({ field: 'experiment', message: `no served experiment "${exposure.experiment}"` });
      if (!exposure || !experimentId) {
        rejected.push({ index, errors });
        return;
      }
      const expected = project.index.assign(exposure.experiment, exposure.unitId);
      if (!expected.inExperiment) {
        errors.push({ field: 'unitId', message: `is not in the experiment (${expected.reason})` });
      } else if (expected.variant !== exposure.variant) {
        errors.push({ field: 'variant', message: `is "${exposure.variant}" but the unit is assigned "${expected.variant}"` });
      }
      const phase = (input as { phase?: unknown }).phase;
      if (phase !== undefined && phase !== expected.phase) {
        errors.push({ field: 'phase', message: `is ${String(phase)} but the current phase is ${expected.phase}` });
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
        at: new Date(exposure.at ?? now).toISOString(),
      });
    });
    await this.producer.enqueue(projectId, records);
    return { accepted: records.length, rejected };
  }
}
