import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { ChatMessage } from './judge';
import { DatasetVersionEntity } from './dataset-version.entity';

/** One case of a dataset version, in upload order (`position`). */
@Entity({ name: 'dataset_case' })
@Index('dataset_case_case_key', ['datasetVersionId', 'caseId'], { unique: true })
export class DatasetCaseEntity {
  @PrimaryColumn({ name: 'dataset_version_id', type: 'uuid', primaryKeyConstraintName: 'dataset_case_pkey' })
  datasetVersionId!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'dataset_case_pkey' })
  position!: number;

  @ManyToOne(() => DatasetVersionEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'dataset_version_id', foreignKeyConstraintName: 'dataset_case_dataset_version_fkey' })
  datasetVersion?: DatasetVersionEntity;

  @Column({ name: 'case_id', type: 'text' })
  caseId!: string;

  @Column({ type: 'jsonb' })
  messages!: ChatMessage[];

  /** Any JSON value (a JSON null when the case has none). */
  @Column({ type: 'jsonb', nullable: true })
  reference!: string | number | boolean | object | null;

  @Column({ type: 'jsonb', nullable: true })
  schema!: Record<string, unknown> | null;

  @Column({ type: 'jsonb' })
  tags!: string[];

  @Column({ type: 'jsonb' })
  metadata!: Record<string, unknown>;
}
