import { Injectable } from '@nestjs/common';
import type { JobsOptions } from 'bullmq';
import { QueueRegistry } from '../queue/queue.module';
import { JOBS, QUEUES, type AlertDeliveryJob, type DecisionWatchJob, type ReportSendJob } from '../queue/queues';

/** SMTP failures are retried with exponential backoff: 1, 2, 4, 8 s, then the send is recorded as failed. */
export const SEND_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 1000 },
};

export const DECISION_WATCH_SCHEDULER = 'decision-watch';
export const DECISION_WATCH_EVERY_MS = 60_000;

const schedulerId = (reportId: string) => `report-${reportId}`;

/**
 * The typed producer of the reports queues. Schedules are BullMQ job schedulers kept in
 * Redis: one per report, whose job id is fixed per due time, so however many workers run,
 * each due time yields one job (docs/adr/0010).
 */
@Injectable()
export class ReportScheduler {
  constructor(private readonly queues: QueueRegistry) {}

  async schedule(report: { id: string; projectId: string; cron: string; timezone: string }): Promise<void> {
    const data: ReportSendJob = { projectId: report.projectId, reportId: report.id };
    await this.queues.get(QUEUES.reports).upsertJobScheduler(
      schedulerId(report.id),
      { pattern: report.cron, tz: report.timezone },
      { name: JOBS.reportSend, data, opts: SEND_JOB_OPTIONS },
    );
  }

  async unschedule(reportId: string): Promise<void> {
    await this.queues.get(QUEUES.reports).removeJobScheduler(schedulerId(reportId));
  }

  /** The next due time of a report's schedule, as BullMQ holds it (null when not scheduled). */
  async nextDue(reportId: string): Promise<Date | null> {
    const scheduler = await this.queues.get(QUEUES.reports).getJobScheduler(schedulerId(reportId));
    return scheduler?.next ? new Date(scheduler.next) : null;
  }

  /** Report ids that have a scheduler in Redis. */
  async scheduledReportIds(): Promise<string[]> {
    const schedulers = await this.queues.get(QUEUES.reports).getJobSchedulers(0, -1);
    return schedulers.map((s) => s.key).filter((k) => k.startsWith('report-')).map((k) => k.slice('report-'.length));
  }

  /** A send requested now: its job id is the send record's, so a retried request never sends twice. */
  async enqueueSend(job: ReportSendJob & { sendId: string }): Promise<void> {
    await this.queues.get(QUEUES.reports).add(JOBS.reportSend, job, { ...SEND_JOB_OPTIONS, jobId: `send-${job.sendId}` });
  }

  /** One decision watch across all running experiments every `everyMs`: one job scheduler, so one run per tick however many workers. */
  async scheduleDecisionWatch(everyMs = DECISION_WATCH_EVERY_MS): Promise<void> {
    const data: DecisionWatchJob = {};
    await this.queues.get(QUEUES.reportAlerts).upsertJobScheduler(
      DECISION_WATCH_SCHEDULER,
      { every: everyMs },
      { name: JOBS.decisionWatch, data, opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
    );
  }

  /** One delivery job per alert (fixed id), retried with backoff like report sends. */
  async enqueueAlert(alertId: string): Promise<void> {
    const data: AlertDeliveryJob = { alertId };
    await this.queues.get(QUEUES.reportAlerts).add(JOBS.alertDelivery, data, { ...SEND_JOB_OPTIONS, jobId: `alert-${alertId}` });
  }
}
