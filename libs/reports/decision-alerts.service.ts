import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { In, type DataSource, type Repository } from 'typeorm';
import { ResultsService } from '../analysis/results.service';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { ExperimentsService } from '../experiments/experiments.service';
import { escapeHtml as h } from './html';
import { PageLinkSigner } from './page-link';
import { ReportAlertEntity } from './report-alert.entity';
import { ReportMailer } from './report-mailer';
import { ReportScheduler } from './report-scheduler';
import { ReportEntity } from './report.entity';
import { WebhookService } from './webhook.service';

/**
 * Stop alerts. The watch recomputes each running experiment's results, which makes the
 * results engine audit `decision.changed` when the decision changes (whoever computes it
 * first: a worker or an API replica). Each such entry that turned the decision to stop
 * becomes one report_alert row (unique audit entry id: exactly once across workers),
 * delivered by its own retried job.
 */
@Injectable()
export class DecisionAlertsService {
  private readonly logger = new Logger(DecisionAlertsService.name);

  constructor(
    private readonly experiments: ExperimentsService,
    private readonly results: ResultsService,
    private readonly scheduler: ReportScheduler,
    private readonly mailer: ReportMailer,
    private readonly webhooks: WebhookService,
    private readonly links: PageLinkSigner,
    @InjectRepository(ReportAlertEntity) private readonly alerts: Repository<ReportAlertEntity>,
    @InjectRepository(ReportEntity) private readonly reports: Repository<ReportEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Returns the ids of the alerts raised by this run. */
  async watch(): Promise<string[]> {
    const running = (await this.experiments.listServed()).filter((e) => e.status === 'running');
    for (const experiment of running) {
      try {
        await this.results.results(experiment.projectId, experiment.key);
      } catch (error) {
        this.logger.warn({ experiment: experiment.key, err: error }, 'results failed during the decision watch');
      }
    }
    if (running.length === 0) return [];
    // Only recent changes: a first deployment does not alert on history.
    const raised = (await this.dataSource.query(
      `INSERT INTO report_alert (project_id, experiment_id, audit_entry_id, action, reasons, email_status, webhook_status)
       SELECT a.project_id, a.target_id::uuid, a.id, a.after->>'action', COALESCE(a.after->'reasons', '[]'::jsonb), 'pending', 'pending'
       FROM audit_entry a
       WHERE a.action = 'decision.changed' AND a.target_type = 'experiment' AND a.target_id = ANY($1)
         AND a.after->>'action' = 'stop' AND (a.before IS NULL OR a.before->>'action' IS DISTINCT FROM 'stop')
         AND a.created_at > now() - interval '1 day'
       ON CONFLICT (audit_entry_id) DO NOTHING
       RETURNING id`,
      [running.map((e) => e.id)],
    )) as Array<{ id: string }>;
    for (const { id } of raised) await this.scheduler.enqueueAlert(id);
    return raised.map((r) => r.id);
  }

  /** Emails the experiment's subscribers and calls the webhook; a channel already done is not repeated on retry. */
  async deliver(alertId: string, lastAttempt: boolean): Promise<ReportAlertEntity | null> {
    const alert = await this.alerts.findOne({ where: { id: alertId } });
    if (!alert) return null;
    const experiment = await this.experiments.getById(alert.experimentId);
    const link = this.links.sign(experiment.projectId, experiment.key).url;
    const errors: string[] = [];
    let { emailStatus, webhookStatus } = alert;
    if (emailStatus !== 'sent') {
      const recipients = await this.subscribers(experiment);
      if (recipients.length === 0) emailStatus = 'skipped';
      else {
        try {
          await this.mailer.send({ to: recipients, ...alertEmail(experiment, alert, link) });
          emailStatus = 'sent';
        } catch (error) {
          emailStatus = lastAttempt ? 'failed' : 'pending';
          errors.push(`email: ${(error as Error).message}`);
        }
      }
    }
    if (webhookStatus !== 'sent') {
      const webhook = await this.webhooks.find(experiment.projectId);
      if (!webhook) webhookStatus = 'skipped';
      else {
        // Every attempt is recorded in webhook_delivery; a refused or failed one is retried like a failed email.
        const delivery = await this.webhooks.deliver(
          webhook,
          {
            type: 'experiment.decision.stop',
            alertId: alert.id,
            experiment: { id: experiment.id, key: experiment.key, name: experiment.name, status: experiment.status },
            decision: { action: alert.action, reasons: alert.reasons },
            resultsPage: link,
            at: alert.createdAt.toISOString(),
          },
          { trigger: 'alert', alertId: alert.id },
        );
        if (delivery.outcome === 'delivered') webhookStatus = 'sent';
        else {
          webhookStatus = lastAttempt ? 'failed' : 'pending';
          errors.push(`webhook: ${delivery.outcome.replace('_', ' ')}: ${delivery.reason}`);
        }
      }
    }
    const done = errors.length === 0;
    await this.alerts.update(
      { id: alert.id },
      { emailStatus, webhookStatus, attempts: alert.attempts + 1, error: done ? null : errors.join('; ').slice(0, 2000), deliveredAt: done ? new Date() : null },
    );
    if (!done) throw new Error(errors.join('; '));
    return this.alerts.findOneByOrFail({ id: alert.id });
  }

  async list(experimentIds: string[]): Promise<ReportAlertEntity[]> {
    return this.alerts.find({ where: { experimentId: In(experimentIds) }, order: { createdAt: 'ASC' } });
  }

  /** Recipients of every report of the project that covers this experiment (all running, or by key). */
  private async subscribers(experiment: ExperimentEntity): Promise<string[]> {
    const reports = await this.reports.find({ where: { projectId: experiment.projectId } });
    const covering = reports.filter((r) => r.experiments === null || r.experiments.includes(experiment.key));
    return [...new Set(covering.flatMap((r) => r.recipients))].sort();
  }
}

function alertEmail(experiment: ExperimentEntity, alert: ReportAlertEntity, link: string): { subject: string; html: string; text: string } {
  const subject = `Verdict alert: stop ${experiment.key} now`;
  const html =
    `<!doctype html><html><body style="font-family:-apple-system,Segoe UI,Arial,sans-serif">` +
    `<h1 style="font-size:20px;color:#b91c1c">Stop ${h(experiment.name)} (${h(experiment.key)})</h1>` +
    `<p data-decision="stop">The decision turned to <strong>stop</strong>:</p><ul>${alert.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>` +
    `<p><a href="${h(link)}">Open the results page</a></p></body></html>`;
  const text = `Stop ${experiment.name} (${experiment.key}) now.\n\nThe decision turned to stop:\n${alert.reasons.map((r) => `  - ${r}`).join('\n')}\n\nResults page: ${link}\n`;
  return { subject, html, text };
}
