import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ProjectEntity } from '../auth/project.entity';

/**
 * The answer cache: one paid answer per (variant config hash, case hash, repetition), shared
 * by every run of the project. A resumed or repeated run reads it instead of paying again.
 * Pruned by age (EVAL_ANSWER_CACHE_DAYS) through the created_at index: docs/adr/0035.
 */
@Entity({ name: 'evaluation_answer' })
@Index('evaluation_answer_created_idx', ['createdAt'])
export class EvaluationAnswerEntity {
  @PrimaryColumn({ name: 'project_id', type: 'uuid', primaryKeyConstraintName: 'evaluation_answer_pkey' })
  projectId!: string;

  @ManyToOne(() => ProjectEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'evaluation_answer_project_fkey' })
  project?: ProjectEntity;

  /** sha256 of what decides the answer: model, instances, params, system prompt prefix, headers. */
  @PrimaryColumn({ name: 'config_hash', type: 'text', primaryKeyConstraintName: 'evaluation_answer_pkey' })
  configHash!: string;

  /** sha256 of the messages sent. */
  @PrimaryColumn({ name: 'case_hash', type: 'text', primaryKeyConstraintName: 'evaluation_answer_pkey' })
  caseHash!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'evaluation_answer_pkey' })
  repetition!: number;

  @Column({ type: 'text' })
  answer!: string;

  @Column({ name: 'latency_ms', type: 'double precision' })
  latencyMs!: number;

  @Column({ name: 'ttft_ms', type: 'double precision', nullable: true })
  ttftMs!: number | null;

  @Column({ name: 'input_tokens', type: 'integer', nullable: true })
  inputTokens!: number | null;

  @Column({ name: 'output_tokens', type: 'integer', nullable: true })
  outputTokens!: number | null;

  @Column({ name: 'cost_usd', type: 'double precision', nullable: true })
  costUsd!: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
