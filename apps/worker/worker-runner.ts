import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Worker } from 'bullmq';
import { VERDICT_CONFIG, type VerdictConfig } from '../../libs/config/config';
import { logContext } from '../../libs/logging/logger';
import { redactErrorInPlace } from '../../libs/logging/redaction';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { PROCESSORS, type Processor } from './processor';

/**
 * Starts one BullMQ Worker per processor. Start-up fails when a queue has no
 * processor or two, so a job can never sit unprocessed. On shutdown workers
 * finish the jobs in hand before closing (BullMQ's graceful close).
 */
@Injectable()
export class WorkerRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkerRunner.name);
  private readonly workers: Worker[] = [];

  constructor(
    @Inject(PROCESSORS) private readonly processors: Processor[],
    private readonly queues: QueueRegistry,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  onApplicationBootstrap(): void {
    for (const queue of this.queues.all()) {
      const handlers = this.processors.filter((p) => p.queue === queue);
      if (handlers.length !== 1) throw new Error(`Queue "${queue}" has ${handlers.length} processors; it needs exactly one.`);
    }
    for (const processor of this.processors) {
      const worker = this.queues.worker(
        processor.queue,
        (job) =>
          logContext.run({ jobId: String(job.id), queue: processor.queue }, () =>
            // BullMQ keeps the message and stack as the job's failure reason (listed by the admin API): no secrets in them.
            processor.process(job).catch((error: unknown) => {
              throw redactErrorInPlace(error);
            }),
          ),
        { concurrency: processor.concurrency ?? this.config.ingest.workerConcurrency },
      );
      worker.on('failed', (job, error) =>
        this.logger.warn({ jobId: job?.id, queue: processor.queue, attempts: job?.attemptsMade, err: error }, 'job failed'),
      );
      worker.on('error', (error) => this.logger.error({ queue: processor.queue, err: error }, 'worker error'));
      this.workers.push(worker);
    }
    this.logger.log({ queues: this.processors.map((p) => p.queue), backend: this.queues.backend }, 'workers started');
  }

  /** Before the registry closes the queues: workers finish the jobs in hand (BullMQ's graceful close). */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
