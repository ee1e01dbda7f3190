import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { VERDICT_CONFIG, type VerdictConfig } from '../../libs/config/config';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { CaptureStore } from '../../libs/gateway/capture-store';
import { type GatewayCapturePruneJob, JOBS, QUEUES } from '../../libs/queue/queues';
import { TrafficMonitorService, type MonitorRun } from '../../libs/traffic/traffic-monitor.service';
import type { Processor } from './processor';

/**
 * The guardrail, ramp and bandit monitor. A BullMQ job scheduler (one per Redis prefix)
 * produces one job per interval however many workers run, and one job runs at a time.
 * The same queue carries the gateway captures' retention (a second scheduler; docs/adr/0039).
 */
@Injectable()
export class TrafficMonitorProcessor implements Processor, OnApplicationBootstrap {
  readonly queue = QUEUES.traffic;
  readonly concurrency = 1;

  constructor(
    private readonly monitor: TrafficMonitorService,
    private readonly captures: CaptureStore,
    private readonly queues: QueueRegistry,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const queue = this.queues.get(QUEUES.traffic);
    await queue.upsertJobScheduler(JOBS.trafficMonitor, { every: this.config.traffic.monitorIntervalMs }, {
      name: JOBS.trafficMonitor,
      opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    });
    const data: GatewayCapturePruneJob = {};
    await queue.upsertJobScheduler(JOBS.gatewayCapturePrune, { every: this.config.gateway.capturePruneIntervalMs }, {
      name: JOBS.gatewayCapturePrune,
      data,
      opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    });
  }

  process(job: Job): Promise<MonitorRun | { deleted: number; batches: number; more: boolean }> {
    if (job.name === JOBS.gatewayCapturePrune) return this.captures.prune();
    return this.monitor.runOnce();
  }
}
