import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AnalysisModule } from '../analysis/analysis.module';
import { AuditModule } from '../audit/audit.module';
import { EvaluationModule } from '../evaluation/evaluation.module';
import { ExperimentsModule } from '../experiments/experiments.module';
import { OutboundModule } from '../outbound/outbound.module';
import { PageLinkSigner } from './page-link';
import { ReportContentService } from './report-content.service';
import { ReportMailer } from './report-mailer';
import { ReportScheduler } from './report-scheduler';
import { ReportSender } from './report-sender.service';
import { ReportsService } from './reports.service';
import { ResultsPageService } from './results-page.service';
import { DecisionAlertsService } from './decision-alerts.service';
import { WebhookService } from './webhook.service';
import { REPORTS_ENTITIES } from './reports.entities';

/** Reports: subscriptions and their schedules, the report email, the results page, stop alerts. */
@Module({
  imports: [TypeOrmModule.forFeature(REPORTS_ENTITIES), AuditModule, ExperimentsModule, AnalysisModule, OutboundModule, EvaluationModule],
  providers: [ReportsService, ReportScheduler, ReportSender, ReportContentService, ReportMailer, PageLinkSigner, ResultsPageService, WebhookService, DecisionAlertsService],
  exports: [ReportsService, ReportSender, PageLinkSigner, ResultsPageService, WebhookService, DecisionAlertsService, ReportScheduler],
})
export class ReportsModule {}
