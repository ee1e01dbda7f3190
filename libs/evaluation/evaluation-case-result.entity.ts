import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { EvaluatorOutcome } from './evaluators';
import { EvaluationRunEntity } from './evaluation-run.entity';

/** One answer of a run: a case, a variant, a repetition, with its measures and every evaluator's outcome. */
@Entity({ name: 'evaluation_case_result' })
export class EvaluationCaseResultEntity {
  @PrimaryColumn({ name: 'run_id', type: 'uuid', primaryKeyConstraintName: 'evaluation_case_result_pkey' })
  runId!: string;

  @ManyToOne(() => EvaluationRunEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'evaluation_case_result_run_fkey' })
  run?: EvaluationRunEntity;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'evaluation_case_result_pkey' })
  variant!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'evaluation_case_result_pkey' })
  position!: number;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'evaluation_case_result_pkey' })
  repetition!: number;

  @Column({ name: 'case_id', type: 'text' })
  caseId!: string;

  @Column({ type: 'text', nullable: true })
  answer!: string | null;

  /** The call failed for good: why. */
  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** Taken from the answer cache (not paid by this run). */
  @Column({ type: 'boolean' })
  cached!: boolean;

  @Column({ name: 'latency_ms', type: 'double precision', nullable: true })
  latencyMs!: number | null;

  @Column({ name: 'ttft_ms', type: 'double precision', nullable: true })
  ttftMs!: number | null;

  @Column({ name: 'input_tokens', type: 'integer', nullable: true })
  inputTokens!: number | null;

  @Column({ name: 'output_tokens', type: 'integer', nullable: true })
  outputTokens!: number | null;

  @Column({ name: 'cost_usd', type: 'double precision', nullable: true })
  costUsd!: number | null;

  @Column({ type: 'jsonb' })
  scores!: Record<string, EvaluatorOutcome>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
