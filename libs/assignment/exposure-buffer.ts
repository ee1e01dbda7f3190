import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { ExposureRecord } from '../queue/queues';
import { ExposureProducer } from './exposure.producer';

const FLUSH_EVERY_MS = 200;
const FLUSH_AT = 1000;
/** Past this, new exposures are dropped (and counted) rather than growing memory while Redis is away. */
const MAX_PENDING = 100_000;

type ByUnit = Map<string, ExposureRecord>;

/**
 * Collects the exposures that /v1/assign observes and enqueues them in batches, one job
 * per project, off the request path: assignment answers from memory and never waits on Redis.
 * Repeats of the same unit within a window are coalesced into one record.
 * Per request, a repeat costs three map lookups and a counter; a new unit one record.
 */
@Injectable()
export class ExposureBuffer implements OnApplicationShutdown {
  private readonly logger = new Logger(ExposureBuffer.name);
  /** experiment id -> phase -> unit id -> record: no composite key is built per exposure. */
  private pending = new Map<string, Map<number, ByUnit>>();
  private size = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** A flush is chained and has not started: later calls share it rather than chain more. */
  private flushQueued = false;
  /** The ISO time of the last millisecond an exposure was seen in, shared by that millisecond's records. */
  private clockMs = 0;
  private clockIso = '';
  dropped = 0;

  constructor(private readonly producer: ExposureProducer) {}

  /** An exposure seen now; the record is only built for a unit not already pending in that phase. */
  observe(projectId: string, experimentId: string, unitId: string, variant: string, phase: number): void {
    const byUnit = this.unitsOf(experimentId, phase);
    const existing = byUnit.get(unitId);
    if (existing !== undefined) {
      existing.count = (existing.count ?? 1) + 1;
      return;
    }
    this.insert(byUnit, { projectId, experimentId, unitId, variant, phase, at: this.now() });
  }

  private unitsOf(experimentId: string, phase: number): ByUnit {
    let phases = this.pending.get(experimentId);
    if (phases === undefined) this.pending.set(experimentId, (phases = new Map()));
    let byUnit = phases.get(phase);
    if (byUnit === undefined) phases.set(phase, (byUnit = new Map()));
    return byUnit;
  }

  private insert(byUnit: ByUnit, record: ExposureRecord): void {
    if (this.size >= MAX_PENDING) {
      this.dropped += 1;
      return;
    }
    byUnit.set(record.unitId, record);
    this.size += 1;
    if (this.size >= FLUSH_AT) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
      this.timer.unref();
    }
  }

  private now(): string {
    const ms = Date.now();
    if (ms !== this.clockMs) {
      this.clockMs = ms;
      this.clockIso = new Date(ms).toISOString();
    }
    return this.clockIso;
  }

  /** Enqueues everything pending; failures are retried on the next flush. */
  flush(): Promise<void> {
    if (this.flushQueued) return this.flushing;
    this.flushQueued = true;
    this.flushing = this.flushing.then(async () => {
      this.flushQueued = false;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      if (this.size === 0) return;
      // Grouped by project here rather than per exposure (an experiment id belongs to one project):
      // one job per project, so one project's bad data can never hold up another's exposures.
      const batch: ExposureRecord[] = [];
      const byProject = new Map<string, ExposureRecord[]>();
      for (const phases of this.pending.values()) {
        for (const byUnit of phases.values()) {
          for (const record of byUnit.values()) {
            batch.push(record);
            let list = byProject.get(record.projectId);
            if (!list) byProject.set(record.projectId, (list = []));
            list.push(record);
          }
        }
      }
      this.pending = new Map();
      this.size = 0;
      try {
        await this.producer.enqueueByProject(byProject);
      } catch (error) {
        this.logger.warn({ err: error, count: batch.length }, 'exposures not enqueued; will retry');
        for (const record of batch) {
          const byUnit = this.unitsOf(record.experimentId, record.phase);
          const since = byUnit.get(record.unitId);
          // The unit came back meanwhile: keep the first time, add up the counts.
          if (since !== undefined) record.count = (record.count ?? 1) + (since.count ?? 1);
          else this.size += 1;
          byUnit.set(record.unitId, record);
        }
        if (!this.timer) {
          this.timer = setTimeout(() => void this.flush(), 1000);
          this.timer.unref();
        }
      }
    });
    return this.flushing;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}
