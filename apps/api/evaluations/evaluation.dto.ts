import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';
import type { EvaluationCaseResultEntity } from '../../../libs/evaluation/evaluation-case-result.entity';
import type { EvaluationRunEntity, EvaluationStatus } from '../../../libs/evaluation/evaluation-run.entity';
import type { EvaluatorOutcome } from '../../../libs/evaluation/evaluators';
import type { RunResults } from '../../../libs/evaluation/run-analysis';
import { PageQueryDto } from '../http/page-query.dto';

/** Documentation of the request body; the checks are libs/evaluation/run-request.ts (evaluators are polymorphic). */
export class CreateEvaluationInput {
  @ApiProperty({ description: 'Dataset name', example: 'support-qa' }) dataset!: string;
  @ApiPropertyOptional({ description: 'Dataset version; default the latest' }) datasetVersion?: number;
  @ApiPropertyOptional({ type: [String], description: 'Variant keys, the control included; default every variant with an upstream' }) variants?: string[];
  @ApiProperty({
    type: 'array',
    items: { type: 'object', properties: { type: { type: 'string', enum: ['exact', 'contains', 'regex', 'json_schema', 'numeric', 'similarity', 'judge'] }, name: { type: 'string' } }, additionalProperties: true },
    description: 'Evaluator objects: a type and its options (exact, contains, regex, json_schema, numeric, similarity, judge; README "Offline evaluation", docs/adr/0028)',
  })
  evaluators!: unknown[];
  @ApiPropertyOptional({ minimum: 1, maximum: 10, default: 1 }) repetitions?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 32, default: 4, description: 'Calls in flight at once' }) concurrency?: number;
  @ApiPropertyOptional({ description: 'No new paid call once the run has cost this much (USD); the run ends partial' }) maxCostUsd?: number;
  @ApiPropertyOptional({ default: 0.05, description: 'Largest acceptable drop of a pass rate or mean score (absolute)' }) margin?: number;
  @ApiPropertyOptional({ default: 0.05 }) alpha?: number;
}

export class EvaluationCasesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Only this variant' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  variant?: string;

  @ApiPropertyOptional({ description: 'Only answers that failed an evaluator, hit an evaluator error or whose call failed' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  failed?: boolean;
}

export class EvaluationProgress {
  @ApiProperty() done!: number;
  @ApiProperty() total!: number;
  @ApiProperty({ description: 'Answers whose call failed for good' }) failed!: number;
  @ApiProperty({ description: 'Paid by this run so far (cached answers are free)' }) costUsd!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'Seconds left at the pace so far (running runs)' }) etaSeconds!: number | null;
}

export class EvaluationResponse {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'Dataset name' }) dataset!: string;
  @ApiProperty() datasetVersion!: number;
  @ApiProperty({ enum: ['queued', 'running', 'paused', 'done', 'failed', 'cancelled'] }) status!: EvaluationStatus;
  @ApiProperty({ type: [String], description: 'The control first' }) variants!: string[];
  @ApiProperty() control!: string;
  @ApiProperty({ type: 'array', items: { type: 'object', additionalProperties: true } }) evaluators!: unknown[];
  @ApiProperty() repetitions!: number;
  @ApiProperty() concurrency!: number;
  @ApiProperty({ nullable: true, type: Number }) maxCostUsd!: number | null;
  @ApiProperty({ type: EvaluationProgress }) progress!: EvaluationProgress;
  @ApiProperty({ description: 'Stopped at the cost cap with cases missing' }) partial!: boolean;
  @ApiProperty({ nullable: true, type: String, description: 'Why the run is paused, failed, cancelled or partial' }) reason!: string | null;
  @ApiProperty({
    nullable: true,
    type: 'object',
    additionalProperties: true,
    description: 'When done: variants [{key, cases, evaluators {name: {passRate or mean, ci}}, latencyMs, ttftMs, tokensPerAnswer, costUsd, costPerAnswerUsd}], comparisons [{variant, evaluator, difference, ci, pValue, adjustedPValue, wilcoxonPValue (scores), method, worstCases}] (evaluator latency_ms, ttft_ms, tokens and cost_usd: per-answer measurements, method wilcoxon, bootstrap interval, outside the decision), decision {action: ready_for_live|not_ready, reasons}',
  })
  results!: RunResults | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;

  static from(run: EvaluationRunEntity, now = Date.now()): EvaluationResponse {
    const elapsed = run.startedAt ? (now - run.startedAt.getTime()) / 1000 : 0;
    const etaSeconds = run.status === 'running' && run.done > 0 ? Math.round((elapsed / run.done) * (run.total - run.done)) : null;
    return {
      id: run.id,
      dataset: run.datasetVersion?.name ?? '',
      datasetVersion: run.datasetVersion?.version ?? 0,
      status: run.status,
      variants: run.variants,
      control: run.control,
      evaluators: run.evaluators,
      repetitions: run.repetitions,
      concurrency: run.concurrency,
      maxCostUsd: run.maxCostUsd,
      progress: { done: run.done, total: run.total, failed: run.failed, costUsd: run.costUsd, etaSeconds },
      partial: run.partial,
      reason: run.reason,
      results: run.status === 'done' ? run.results : null,
      createdAt: run.createdAt.toISOString(),
      startedAt: run.startedAt?.toISOString() ?? null,
      finishedAt: run.finishedAt?.toISOString() ?? null,
    };
  }
}

export class EvaluationListResponse {
  @ApiProperty({ type: [EvaluationResponse] }) items!: EvaluationResponse[];
}

export class EvaluationCaseResponse {
  @ApiProperty() caseId!: string;
  @ApiProperty() position!: number;
  @ApiProperty() variant!: string;
  @ApiProperty() repetition!: number;
  @ApiProperty({ nullable: true, type: String }) answer!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The call failed for good: why' }) error!: string | null;
  @ApiProperty({ description: 'Taken from the answer cache' }) cached!: boolean;
  @ApiProperty({ nullable: true, type: Number }) latencyMs!: number | null;
  @ApiProperty({ nullable: true, type: Number }) ttftMs!: number | null;
  @ApiProperty({ nullable: true, type: Number }) inputTokens!: number | null;
  @ApiProperty({ nullable: true, type: Number }) outputTokens!: number | null;
  @ApiProperty({ nullable: true, type: Number }) costUsd!: number | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Per evaluator: {passed, score, error?, detail?}' }) scores!: Record<string, EvaluatorOutcome>;

  static from(r: EvaluationCaseResultEntity): EvaluationCaseResponse {
    return {
      caseId: r.caseId,
      position: r.position,
      variant: r.variant,
      repetition: r.repetition,
      answer: r.answer,
      error: r.error,
      cached: r.cached,
      latencyMs: r.latencyMs,
      ttftMs: r.ttftMs,
      inputTokens: r.inputTokens,
      outputTokens: r.outputTokens,
      costUsd: r.costUsd,
      scores: r.scores,
    };
  }
}

export class EvaluationCaseListResponse {
  @ApiProperty({ type: [EvaluationCaseResponse] }) items!: EvaluationCaseResponse[];
  @ApiProperty() total!: number;
}
