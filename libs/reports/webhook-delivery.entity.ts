import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ProjectEntity } from '../auth/project.entity';
import { ReportAlertEntity } from './report-alert.entity';

/** delivered: a 2xx answer; refused: the outbound policy forbade the URL, nothing was sent; failed: any other answer or error; timed_out. */
export type WebhookDeliveryOutcome = 'delivered' | 'refused' | 'failed' | 'timed_out';
export type WebhookDeliveryTrigger = 'alert' | 'test';

/** One attempt to call a project's webhook, whatever came of it. The last WEBHOOK_DELIVERIES_KEPT per project are kept. */
@Entity({ name: 'webhook_delivery' })
@Index('webhook_delivery_project_idx', ['projectId', 'createdAt'])
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'webhook_delivery_pkey' })
  id!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => ProjectEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'webhook_delivery_project_fkey' })
  project?: ProjectEntity;

  /** The stop alert delivered; null for a test ping (or once the alert is gone). */
  @Column({ name: 'alert_id', type: 'uuid', nullable: true })
  alertId!: string | null;

  @ManyToOne(() => ReportAlertEntity, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'alert_id', foreignKeyConstraintName: 'webhook_delivery_alert_fkey' })
  alert?: ReportAlertEntity;

  @Column({ type: 'text' })
  trigger!: WebhookDeliveryTrigger;

  /** Origin and path only: the query and fragment (where tokens tend to live) are not kept. */
  @Column({ type: 'text' })
  url!: string;

  @Column({ type: 'text' })
  outcome!: WebhookDeliveryOutcome;

  /** The receiver's HTTP status, when it answered. */
  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode!: number | null;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs!: number;

  /** When the attempt started. */
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
