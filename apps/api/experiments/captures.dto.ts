import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import type { CaptureRow } from '../../../libs/gateway/capture-store';
import { LimitQueryDto } from '../http/page-query.dto';

/** Newest first, `limit` 50 by default. */
export class CapturesQueryDto extends LimitQueryDto {
  @ApiPropertyOptional({ description: 'Only this variant' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  variant?: string;

  @ApiPropertyOptional({ description: 'The nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

export class CaptureResponse {
  @ApiProperty({ description: 'The call\'s x-verdict-event-id (its outcome event)' }) eventId!: string;
  @ApiProperty({ description: 'The assigned variant' }) variant!: string;
  @ApiProperty({ nullable: true, type: String, description: 'The instance that answered (base URL without credentials)' }) instance!: string | null;
  @ApiProperty({ enum: ['chat', 'completions', 'embeddings', 'responses'] }) endpoint!: string;
  @ApiProperty() stream!: boolean;
  @ApiProperty({ description: 'The messages (chat) or input as JSON, or the prompt when it is a string; at most capture.maxChars' }) prompt!: string;
  @ApiProperty({ description: 'The prompt was longer than capture.maxChars and is cut' }) promptTruncated!: boolean;
  @ApiProperty({ nullable: true, type: String, description: 'The answer\'s final text as the client got it (content, then tool calls as name(arguments)); null when it had none' }) answer!: string | null;
  @ApiProperty({ description: 'The answer was longer than capture.maxChars and is cut' }) answerTruncated!: boolean;
  @ApiProperty({ nullable: true, type: String, description: 'The call\'s error class, as in its outcome; null when it succeeded' }) error!: string | null;
  @ApiProperty() capturedAt!: string;
  @ApiProperty({ description: 'When the worker deletes it (capture.retentionDays after capturedAt)' }) expiresAt!: string;

  static from(r: CaptureRow): CaptureResponse {
    return {
      eventId: r.eventId,
      variant: r.variant,
      instance: r.instance,
      endpoint: r.endpoint,
      stream: r.stream,
      prompt: r.prompt,
      promptTruncated: r.promptTruncated,
      answer: r.answer,
      answerTruncated: r.answerTruncated,
      error: r.error,
      capturedAt: r.capturedAt.toISOString(),
      expiresAt: r.expiresAt.toISOString(),
    };
  }
}

export class CaptureListResponse {
  @ApiProperty({ type: [CaptureResponse] }) items!: CaptureResponse[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as cursor for the next page; null on the last' }) nextCursor!: string | null;
}

export class CapturesDeletedResponse {
  @ApiProperty() deleted!: number;
}
