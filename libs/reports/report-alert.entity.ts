import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ExperimentEntity } from '../experiments/experiment.entity';

export type AlertChannelStatus = 'pending' | 'sent' | 'failed' | 'skipped';

/**
 * One alert per decision.changed audit entry that turned an experiment's decision to
 * stop: the unique audit entry id makes the alert exactly-once across workers.
 */
@Entity({ name: 'report_alert' })
@Index('report_alert_audit_entry_key', ['auditEntryId'], { unique: true })
@Index('report_alert_experiment_idx', ['experimentId', 'createdAt'])
export class ReportAlertEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'report_alert_pkey' })
  id!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  @Column({ name: 'experiment_id', type: 'uuid' })
  experimentId!: string;

  @ManyToOne(() => ExperimentEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'experiment_id', foreignKeyConstraintName: 'report_alert_experiment_fkey' })
  experiment?: ExperimentEntity;

  @Column({ name: 'audit_entry_id', type: 'bigint' })
  auditEntryId!: string;

  @Column({ type: 'text' })
  action!: string;

  @Column({ type: 'jsonb' })
  reasons!: string[];

  @Column({ name: 'email_status', type: 'text' })
  emailStatus!: AlertChannelStatus;

  @Column({ name: 'webhook_status', type: 'text' })
  webhookStatus!: AlertChannelStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;
}
