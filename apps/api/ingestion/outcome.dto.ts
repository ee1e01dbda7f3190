import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray } from 'class-validator';
import { TextCheckedPerItem } from '../http/validation';

/** One outcome event; documented here, validated item by item by the ingestion service so that valid items pass. */
export class OutcomeEventDto {
  @ApiProperty({ description: 'Idempotency id, 1-128 characters: unique per experiment.', example: 'evt-7f3a' })
  id!: string;
  @ApiProperty({ example: 'chat-8b-vs-70b' }) experiment!: string;
  @ApiProperty({ example: 'user-42' }) unitId!: string;
  @ApiPropertyOptional({ description: 'Checked against the assignment; derived from it when absent.' }) variant?: string;
  @ApiPropertyOptional({ description: 'ISO-8601; at most 5 minutes ahead; defaults to the time received.' }) timestamp?: string;
  @ApiPropertyOptional({ minimum: 0 }) latencyMs?: number;
  @ApiPropertyOptional({ minimum: 0 }) ttftMs?: number;
  @ApiPropertyOptional({ minimum: 0 }) inputTokens?: number;
  @ApiPropertyOptional({ minimum: 0 }) outputTokens?: number;
  @ApiPropertyOptional({ minimum: 0, description: "Computed from the variant's pricing and the tokens when absent; unknown if neither." })
  costUsd?: number;
  @ApiPropertyOptional() success?: boolean;
  @ApiPropertyOptional({ description: "Within the experiment's metrics.scoreRange." }) score?: number;
  @ApiPropertyOptional({ description: 'An error code; the event counts as an error.' }) error?: string;
  @ApiPropertyOptional({ type: Object, description: 'Custom metrics declared in metrics.custom: name -> number.' })
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
