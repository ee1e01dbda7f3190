import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ProjectEntity } from '../auth/project.entity';
import { ExperimentEntity } from '../experiments/experiment.entity';
import { DatasetVersionEntity } from './dataset-version.entity';
import type { EvaluatorDefinition } from './evaluator-definition';
import type { RunResults } from './run-analysis';

export type EvaluationStatus = 'queued' | 'running' | 'paused' | 'done' | 'failed' | 'cancelled';

/** One offline evaluation run: a dataset version sent to some variants of an experiment, scored by evaluators. */
@Entity({ name: 'evaluation_run' })
@Index('evaluation_run_experiment_idx', ['experimentId', 'createdAt'])
export class EvaluationRunEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'evaluation_run_pkey' })
  id!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => ProjectEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'evaluation_run_project_fkey' })
  project?: ProjectEntity;

  @Column({ name: 'experiment_id', type: 'uuid' })
  experimentId!: string;

  @ManyToOne(() => ExperimentEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'experiment_id', foreignKeyConstraintName: 'evaluation_run_experiment_fkey' })
  experiment?: ExperimentEntity;

  @Column({ name: 'dataset_version_id', type: 'uuid' })
  datasetVersionId!: string;

  @ManyToOne(() => DatasetVersionEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'dataset_version_id', foreignKeyConstraintName: 'evaluation_run_dataset_version_fkey' })
  datasetVersion?: DatasetVersionEntity;

  @Column({ type: 'text' })
  status!: EvaluationStatus;

  /** Variant keys answered, the control first. */
  @Column({ type: 'jsonb' })
  variants!: string[];

  @Column({ type: 'text' })
  control!: string;

  @Column({ type: 'jsonb' })
  evaluators!: EvaluatorDefinition[];

  @Column({ type: 'integer' })
  repetitions!: number;

  @Column({ type: 'integer' })
  concurrency!: number;

  @Column({ name: 'max_cost_usd', type: 'double precision', nullable: true })
  maxCostUsd!: number | null;

  @Column({ type: 'double precision' })
  margin!: number;

  @Column({ type: 'double precision' })
  alpha!: number;

  /** Answers to get: variants x cases x repetitions. */
  @Column({ type: 'integer' })
  total!: number;

  @Column({ type: 'integer', default: 0 })
  done!: number;

  /** Answers whose call failed for good (a 4xx from the upstream, say). */
  @Column({ type: 'integer', default: 0 })
  failed!: number;

  /** Paid by this run (answers taken from the cache cost nothing again). */
  @Column({ name: 'cost_usd', type: 'double precision', default: 0 })
  costUsd!: number;

  /** Stopped at the cost cap with some answers missing. */
  @Column({ type: 'boolean', default: false })
  partial!: boolean;

  /** Why the run is paused, failed or partial. */
  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  /** Bumped at every resume: the job id of the run's current job. */
  @Column({ type: 'integer', default: 0 })
  generation!: number;

  @Column({ type: 'jsonb', nullable: true })
  results!: RunResults | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
