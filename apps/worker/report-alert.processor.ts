import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { JOBS, QUEUES, type AlertDeliveryJob } from '../../libs/queue/queues';
import { DecisionAlertsService } from '../../libs/reports/decision-alerts.service';
import { ReportScheduler } from '../../libs/reports/report-scheduler';
import type { Processor } from './processor';

/** The decision watch (every minute, one job scheduler) and the delivery of each stop alert. */
@Injectable()
export class ReportAlertProcessor implements Processor, OnApplicationBootstrap {
  readonly queue = QUEUES.reportAlerts;
  constructor(
    private readonly alerts: DecisionAlertsService,
    private readonly scheduler: ReportScheduler,
  ) {}

  /** Upserting the scheduler is idempotent: every worker may do it at start-up. */
  async onApplicationBootstrap(): Promise<void> {
    await this.scheduler.scheduleDecisionWatch();
  }

  async process(job: Job): Promise<unknown> {
    if (job.name === JOBS.decisionWatch) return { raised: await this.alerts.watch() };
    if (job.name === JOBS.alertDelivery) {
      const { alertId } = job.data as AlertDeliveryJob;
      const alert = await this.alerts.deliver(alertId, job.attemptsMade + 1 >= (job.opts.attempts ?? 1));
      return alert ? { email: alert.emailStatus, webhook: alert.webhookStatus } : { skipped: 'alert not found' };
    }
    throw new UnrecoverableError(`unknown job name "${job.name}" on the report-alerts queue`);
  }
}
