import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { JOBS, QUEUES, type ReportSendJob } from '../../libs/queue/queues';
import { ReportSender } from '../../libs/reports/report-sender.service';
import { ReportsService } from '../../libs/reports/reports.service';
import type { Processor } from './processor';

/** Sends report emails, scheduled or requested; SMTP failures throw so that BullMQ retries with backoff. */
@Injectable()
export class ReportSendProcessor implements Processor<ReportSendJob>, OnApplicationBootstrap {
  readonly queue = QUEUES.reports;
  constructor(
    private readonly sender: ReportSender,
    private readonly reports: ReportsService,
  ) {}

  /** Schedules live in Redis; putting them back at start-up heals a Redis that lost them. */
  async onApplicationBootstrap(): Promise<void> {
    await this.reports.reconcileSchedules();
  }

  async process(job: Job<ReportSendJob>): Promise<unknown> {
    if (job.name !== JOBS.reportSend) throw new UnrecoverableError(`unknown job name "${job.name}" on the reports queue`);
    const { projectId, reportId, sendId } = job.data;
    const send = await this.sender.send({
      projectId,
      reportId,
      jobId: String(job.id),
      trigger: sendId ? 'manual' : 'schedule',
      // A scheduler's job carries its due time (prevMillis); its id is fixed per due time.
      dueAt: job.opts.prevMillis ? new Date(job.opts.prevMillis) : null,
      lastAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
    });
    return send ? { sendId: send.id, status: send.status } : { skipped: 'report deleted' };
  }
}
