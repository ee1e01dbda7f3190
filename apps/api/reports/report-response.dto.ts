import { ApiProperty } from '@nestjs/swagger';
import type { ReportSendEntity, ReportSendStatus, ReportSendTrigger } from '../../../libs/reports/report-send.entity';
import type { ReportEntity } from '../../../libs/reports/report.entity';

export class ReportResponse {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: [String] }) recipients!: string[];
  @ApiProperty() cron!: string;
  @ApiProperty() timezone!: string;
  @ApiProperty({ type: [String], nullable: true, description: 'null: every running experiment' }) experiments!: string[] | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;

  static from(report: ReportEntity): ReportResponse {
    return {
      id: report.id,
      name: report.name,
      recipients: report.recipients,
      cron: report.cron,
      timezone: report.timezone,
      experiments: report.experiments,
      createdAt: report.createdAt.toISOString(),
      updatedAt: report.updatedAt.toISOString(),
    };
  }
}

export class ReportListResponse {
  @ApiProperty({ type: [ReportResponse] }) items!: ReportResponse[];
}

export class ReportSendResponse {
  @ApiProperty() id!: string;
  @ApiProperty() reportId!: string;
  @ApiProperty({ enum: ['schedule', 'manual'] }) trigger!: ReportSendTrigger;
  @ApiProperty({ enum: ['queued', 'sending', 'retrying', 'sent', 'failed'] }) status!: ReportSendStatus;
  @ApiProperty({ nullable: true, type: String, description: 'The scheduled time this send is for' }) dueAt!: string | null;
  @ApiProperty({ type: [String] }) recipients!: string[];
  @ApiProperty({ type: [String], nullable: true, description: 'Experiment keys the email covered' }) experiments!: string[] | null;
  @ApiProperty({ nullable: true, type: String }) subject!: string | null;
  @ApiProperty({ nullable: true, type: String }) messageId!: string | null;
  @ApiProperty({ description: 'SMTP attempts made so far' }) attempts!: number;
  @ApiProperty({ nullable: true, type: String, description: 'The last error' }) error!: string | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) sentAt!: string | null;

  static from(send: ReportSendEntity): ReportSendResponse {
    return {
      id: send.id,
      reportId: send.reportId,
      trigger: send.trigger,
      status: send.status,
      dueAt: send.dueAt?.toISOString() ?? null,
      recipients: send.recipients,
      experiments: send.experiments,
      subject: send.subject,
      messageId: send.messageId,
      attempts: send.attempts,
      error: send.error,
      createdAt: send.createdAt.toISOString(),
      sentAt: send.sentAt?.toISOString() ?? null,
    };
  }
}

export class ReportSendListResponse {
  @ApiProperty({ type: [ReportSendResponse] }) items!: ReportSendResponse[];
  @ApiProperty() total!: number;
}
