import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsOptional } from 'class-validator';
import { INGEST_KINDS, type IngestKind } from '../../../libs/observability/ingest-counter-sql';
import { STORABLE_LIMITS } from '../../../libs/storable/storable';
import { PageQueryDto } from '../http/page-query.dto';

const L = STORABLE_LIMITS;
const TEXT = 'No NUL, no lone surrogate (README, "Limits").';
import { TextCheckedPerItem } from '../http/validation';

/** One outcome event; documented here, validated item by item by the ingestion service so that valid items pass. */
export class OutcomeEventDto {
  @ApiProperty({ description: `Idempotency id, 1-${L.eventIdLength} characters: unique per experiment. ${TEXT}`, example: 'evt-7f3a' })
  id!: string;
  @ApiProperty({ example: 'chat-8b-vs-70b' }) experiment!: string;
  @ApiProperty({ example: 'user-42', description: `1-${L.unitIdLength} characters. ${TEXT}` }) unitId!: string;
  @ApiPropertyOptional({ description: 'Checked against the assignment; derived from it when absent.' }) variant?: string;
  @ApiPropertyOptional({ description: 'ISO-8601; from the experiment\'s creation (less 5 minutes) to 5 minutes ahead; defaults to the time received.' })
  timestamp?: string;
  @ApiPropertyOptional({ minimum: 0, maximum: L.maxDurationMs }) latencyMs?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: L.maxDurationMs }) ttftMs?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: L.maxTokens, type: 'integer' }) inputTokens?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: L.maxTokens, type: 'integer' }) outputTokens?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: L.maxCostUsd, description: "Computed from the variant's pricing and the tokens when absent; unknown if neither." })
  costUsd?: number;
  @ApiPropertyOptional() success?: boolean;
  @ApiPropertyOptional({ description: `Within the experiment's metrics.scoreRange, magnitude at most ${L.maxMagnitude}.` }) score?: number;
  @ApiPropertyOptional({ description: `An error code (at most ${L.errorLength} characters); the event counts as an error.` }) error?: string;
  @ApiPropertyOptional({ type: Object, description: `Custom metrics declared in metrics.custom: name -> number (magnitude at most ${L.maxMagnitude}).` })
  metrics?: Record<string, number>;
}

@TextCheckedPerItem()
export class OutcomesDto {
  @ApiProperty({ type: [OutcomeEventDto], maxItems: 1000 })
  @IsArray()
  @ArrayMaxSize(1000)
  events!: unknown[];
}

export class FeedbackItemDto {
  @ApiProperty({ description: 'The id of an event sent earlier (or later: it is applied when the event arrives).' }) eventId!: string;
  @ApiPropertyOptional() success?: boolean;
  @ApiPropertyOptional() score?: number;
  @ApiPropertyOptional({ type: Object }) metrics?: Record<string, number>;
}

@TextCheckedPerItem()
export class FeedbackDto {
  @ApiProperty({ type: [FeedbackItemDto], maxItems: 1000 })
  @IsArray()
  @ArrayMaxSize(1000)
  items!: unknown[];
}

export class CovariateItemDto {
  @ApiProperty({ example: 'user-42' }) unitId!: string;
  @ApiProperty({ example: 'score', description: 'A built-in metric with a CUPED comparison (success_rate, score, latency_ms, ...)' }) metric!: string;
  @ApiProperty({ example: 0.82, description: 'The unit\'s value before the experiment, for example its historical satisfaction score' }) value!: number;
}

@TextCheckedPerItem()
export class CovariatesDto {
  @ApiProperty({ type: [CovariateItemDto], maxItems: 1000 })
  @IsArray()
  @ArrayMaxSize(1000)
  items!: unknown[];
}

export class RejectedOutcome {
  @ApiProperty() index!: number;
  @ApiProperty({ type: Object, isArray: true, example: [{ field: 'score', message: "must lie in the experiment's scoreRange [0, 1]" }] })
  errors!: Array<{ field: string; message: string }>;
}

export class IngestResponse {
  @ApiProperty({ description: 'Items enqueued: they will be stored and counted exactly once.' }) accepted!: number;
  @ApiProperty({ type: [RejectedOutcome] }) rejected!: RejectedOutcome[];
}

export class FailedJobResponse {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() items!: number;
  @ApiProperty() attemptsMade!: number;
  @ApiProperty() failedReason!: string;
  @ApiProperty({ nullable: true, type: String }) finishedOn!: string | null;
}

export class ReplayResponse {
  @ApiProperty() replayed!: number;
}

export class DeadLetterQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: INGEST_KINDS })
  @IsOptional()
  @IsIn(INGEST_KINDS)
  kind?: IngestKind;
}

export class DeadLetterResponse {
  @ApiProperty({ example: '42' }) id!: string;
  @ApiProperty({ enum: INGEST_KINDS }) kind!: IngestKind;
  @ApiProperty({ nullable: true, type: String, description: 'The event id (outcomes, feedback) or unit id (exposures), when storable as text.' })
  eventId!: string | null;
  @ApiProperty({ nullable: true, type: String }) experimentId!: string | null;
  @ApiProperty({ example: 'unitId: must not contain NUL (U+0000, at index 3)' }) reason!: string;
  @ApiProperty({ description: 'The item as it was queued, as JSON text.' }) payload!: string;
  @ApiProperty({ nullable: true, type: String }) receivedAt!: string | null;
  @ApiProperty() deadAt!: string;
}

export class DeadLetterPage {
  @ApiProperty() total!: number;
  @ApiProperty({ type: [DeadLetterResponse] }) items!: DeadLetterResponse[];
}

export class DeletedResponse {
  @ApiProperty() deleted!: number;
}

export class StillDead {
  @ApiProperty() id!: string;
  @ApiProperty() reason!: string;
}

export class RedriveResponse {
  @ApiProperty({ description: 'Put back on the queue and removed from the dead letters.' }) redriven!: number;
  @ApiProperty({ type: [StillDead], description: 'Still refused by the current definition: kept, with the new reason.' }) stillDead!: StillDead[];
  @ApiProperty({ description: "The project's dead letters left." }) remaining!: number;
}
