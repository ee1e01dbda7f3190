import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { ProjectEntity } from '../auth/project.entity';

/** A report subscription: who gets which experiments' results, and when (a cron in a time zone). */
@Entity({ name: 'report' })
@Index('report_project_idx', ['projectId'])
export class ReportEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'report_pkey' })
  id!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => ProjectEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'report_project_fkey' })
  project?: ProjectEntity;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'jsonb' })
  recipients!: string[];

  @Column({ type: 'text' })
  cron!: string;

  /** IANA time zone the cron is read in. */
  @Column({ type: 'text' })
  timezone!: string;

  /** Experiment keys, or null for every running experiment at send time. */
  @Column({ type: 'jsonb', nullable: true })
  experiments!: string[] | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
