import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ProjectEntity } from '../auth/project.entity';

/**
 * One version of a named dataset. An upload whose cases differ from the latest version's
 * makes a new version; runs point at a version, so they keep their cases. Deleting a
 * dataset hides its versions (deleted_at) and leaves them to the runs that used them.
 */
@Entity({ name: 'dataset_version' })
@Index('dataset_version_name_key', ['projectId', 'name', 'version'], { unique: true })
export class DatasetVersionEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'dataset_version_pkey' })
  id!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => ProjectEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'dataset_version_project_fkey' })
  project?: ProjectEntity;

  @Column({ type: 'text' })
  name!: string;

  /** 1, 2, ... per (project, name). */
  @Column({ type: 'integer' })
  version!: number;

  @Column({ name: 'case_count', type: 'integer' })
  caseCount!: number;

  /** sha256 of the cases: an identical upload returns this version instead of making a new one. */
  @Column({ name: 'content_hash', type: 'text' })
  contentHash!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt!: Date | null;
}
