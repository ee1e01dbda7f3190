import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { VERDICT_CONFIG, type VerdictConfig } from '../../libs/config/config';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { JOBS, QUEUES } from '../../libs/queue/queues';
import { TrafficMonitorService, type MonitorRun } from '../../libs/traffic/traffic-monitor.service';
import type { Processor } from './processor';

/**
 * The guardrail, ramp and bandit monitor. A BullMQ job scheduler (one per Redis prefix)
 * produces one job per interval however many workers run, and one job runs at a time.
 */
@Injectable()
export class TrafficMonitorProcessor implements Processor, OnApplicationBootstrap {
  readonly queue = QUEUES.traffic;
  readonly concurrency = 1;

  constructor(
    private readonly monitor: TrafficMonitorService,
    private readonly queues: QueueRegistry,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queues
      .get(QUEUES.traffic)
      .upsertJobScheduler(JOBS.trafficMonitor, { every: this.config.traffic.monitorIntervalMs }, {
        name: JOBS.trafficMonitor,
        opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
      });
  }

  process(_job: Job): Promise<MonitorRun> {
    return this.monitor.runOnce();
  }
}
