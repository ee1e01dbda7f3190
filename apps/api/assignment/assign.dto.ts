import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsObject,
  IsOptional,
  IsString,
  Length,
  ValidateNested,
} from 'class-validator';
import { TextCheckedPerItem } from '../http/validation';

/** Unit ids are strings of 1 to 256 characters; numbers are refused rather than coerced (see docs/adr/0002). */
export class AssignDto {
  @ApiProperty({ example: 'chat-8b-vs-70b' })
  @IsString()
  @Length(1, 64)
  experiment!: string;

  @ApiProperty({ example: 'user-42', description: 'A string of 1-256 characters (any Unicode).' })
  @IsString()
  @Length(1, 256)
  unitId!: string;

  @ApiPropertyOptional({ type: Object, description: 'Reserved for targeting; accepted and ignored today.' })
  @IsOptional()
  @IsObject()
  attributes?: Record<string, unknown>;
}

@TextCheckedPerItem()
export class AssignBatchDto {
  @ApiProperty({ type: [AssignDto], maxItems: 1000 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => AssignDto)
  items!: AssignDto[];
}

export class AssignmentResponse {
  @ApiProperty() experiment!: string;
  @ApiProperty({ nullable: true, type: String }) variant!: string | null;
  @ApiProperty({ type: Object, nullable: true }) config!: Record<string, unknown> | null;
  @ApiProperty({ description: 'True when the unit counts in the analysis.' }) inExperiment!: boolean;
  @ApiProperty() phase!: number;
  @ApiProperty({ example: 'hashed' }) reason!: string;
}

export class AssignBatchResponse {
  @ApiProperty({ type: [AssignmentResponse], description: 'In the order of the request; unknown experiments carry `error`.' })
  assignments!: Array<AssignmentResponse | { experiment: string; error: string }>;
}

/** Documents an exposure item; each is checked on its own (libs/storable/storable.ts checkExposureEvent), never the whole request. */
export class ExposureDto {
  @ApiProperty()
  experiment!: string;

  @ApiProperty()
  unitId!: string;

  @ApiProperty()
  variant!: string;

  @ApiPropertyOptional()
  phase?: number;

  @ApiPropertyOptional({ description: 'ISO-8601; defaults to the time received.' })
  timestamp?: string;
}

/**
 * Like OutcomesDto: only the array is validated here; a bad item is rejected on its own,
 * naming its field, and never costs the good items of the request (a class-validator
 * @ValidateNested answered 400 for the whole request).
 */
@TextCheckedPerItem()
export class ExposuresDto {
  @ApiProperty({ type: [ExposureDto], maxItems: 1000 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  exposures!: unknown[];
}

export class RejectedItem {
  @ApiProperty() index!: number;
  @ApiProperty({ type: Object, isArray: true }) errors!: Array<{ field: string; message: string }>;
}

export class AcceptedResponse {
  @ApiProperty() accepted!: number;
  @ApiProperty({ type: [RejectedItem] }) rejected!: RejectedItem[];
}
