import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import type { DataSource, Repository } from 'typeorm';
import { redactErrorInPlace } from '../logging/redaction';
import { ReportContentService } from './report-content.service';
import { composeReportEmail } from './report-email';
import { ReportMailer } from './report-mailer';
import { ReportSendEntity, type ReportSendTrigger } from './report-send.entity';
import { ReportEntity } from './report.entity';

export interface SendAttempt {
  reportId: string;
  projectId: string;
  jobId: string;
  trigger: ReportSendTrigger;
  dueAt: Date | null;
  /** This attempt is the last one the job gets: a failure is final. */
  lastAttempt: boolean;
}

/**
 * Sends one report email and records the send: one report_send row per job (unique job
 * id), updated at every attempt, so the sends list shows attempts and the last error.
 */
@Injectable()
export class ReportSender {
  private readonly logger = new Logger(ReportSender.name);

  constructor(
    @InjectRepository(ReportEntity) private readonly reports: Repository<ReportEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly content: ReportContentService,
    private readonly mailer: ReportMailer,
  ) {}

  /** Returns the send record; throws the SMTP error after recording it, so the job is retried. */
  async send(attempt: SendAttempt): Promise<ReportSendEntity | null> {
    const report = await this.reports.findOne({ where: { id: attempt.reportId, projectId: attempt.projectId } });
    // A report deleted after its job was queued: nothing to send, nothing to record.
    if (!report) return null;
    const sendId = await this.begin(report, attempt);
    try {
      const { views, missing, links } = await this.content.views(report.projectId, report.experiments);
      const email = composeReportEmail({ reportName: report.name, experiments: views, missing, links });
      const messageId = await this.mailer.send({ to: report.recipients, ...email });
      await this.update(sendId, { status: 'sent', subject: email.subject, messageId, experiments: views.map((v) => v.key), error: null, sentAt: new Date() });
    } catch (error) {
      // The message is shown by GET /v1/reports/{id}/sends and kept by BullMQ: no credentials or query values in it.
      redactErrorInPlace(error);
      const message = error instanceof Error ? error.message : String(error);
      this.logger.warn({ reportId: report.id, sendId, err: error, lastAttempt: attempt.lastAttempt }, 'report send failed');
      await this.update(sendId, { status: attempt.lastAttempt ? 'failed' : 'retrying', error: message.slice(0, 2000) });
      throw error;
    }
    return this.dataSource.getRepository(ReportSendEntity).findOneByOrFail({ id: sendId });
  }

  /** Creates the row on the first attempt (scheduled sends) or takes the queued one; counts the attempt. */
  private async begin(report: ReportEntity, attempt: SendAttempt): Promise<string> {
    const rows = (await this.dataSource.query(
      `INSERT INTO report_send AS s (report_id, job_id, trigger, due_at, status, recipients, experiments, attempts)
       VALUES ($1, $2, $3, $4, 'sending', $5, $6, 1)
       ON CONFLICT (job_id) DO UPDATE SET status = 'sending', attempts = s.attempts + 1, recipients = EXCLUDED.recipients
       RETURNING id`,
      [report.id, attempt.jobId, attempt.trigger, attempt.dueAt, JSON.stringify(report.recipients), report.experiments ? JSON.stringify(report.experiments) : null],
    )) as Array<{ id: string }>;
    return rows[0].id;
  }

  private async update(id: string, patch: Partial<ReportSendEntity>): Promise<void> {
    await this.dataSource.getRepository(ReportSendEntity).update({ id }, patch);
  }
}
