import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ReportEntity } from './report.entity';

export type ReportSendStatus = 'queued' | 'sending' | 'retrying' | 'sent' | 'failed';
export type ReportSendTrigger = 'schedule' | 'manual';

/** One send of a report: one row per BullMQ job (its id is unique), updated at every attempt. */
@Entity({ name: 'report_send' })
@Index('report_send_job_key', ['jobId'], { unique: true })
@Index('report_send_report_idx', ['reportId', 'createdAt'])
export class ReportSendEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'report_send_pkey' })
  id!: string;

  @Column({ name: 'report_id', type: 'uuid' })
  reportId!: string;

  @ManyToOne(() => ReportEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'report_id', foreignKeyConstraintName: 'report_send_report_fkey' })
  report?: ReportEntity;

  @Column({ name: 'job_id', type: 'text' })
  jobId!: string;

  @Column({ type: 'text' })
  trigger!: ReportSendTrigger;

  /** The scheduled time this send is for (scheduled sends only). */
  @Column({ name: 'due_at', type: 'timestamptz', nullable: true })
  dueAt!: Date | null;

  @Column({ type: 'text' })
  status!: ReportSendStatus;

  @Column({ type: 'jsonb' })
  recipients!: string[];

  /** Experiment keys the email covered. */
  @Column({ type: 'jsonb', nullable: true })
  experiments!: string[] | null;

  @Column({ type: 'text', nullable: true })
  subject!: string | null;

  @Column({ name: 'message_id', type: 'text', nullable: true })
  messageId!: string | null;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt!: Date | null;
}
