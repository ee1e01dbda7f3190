import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsEmail, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { KEY_PATTERN } from '../http/keys';
import { PageQueryDto } from '../http/page-query.dto';

export class CreateReportDto {
  @ApiProperty({ example: 'Weekly model experiments' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiProperty({ type: [String], example: ['ml-team@example.com'], maxItems: 50 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @IsEmail({}, { each: true, message: 'each recipient must be an email address' })
  recipients!: string[];

  @ApiProperty({ description: 'Cron expression: 5 fields, or 6 with seconds first', example: '0 9 * * 1' })
  @IsString()
  @MaxLength(100)
  cron!: string;

  @ApiProperty({ description: 'IANA time zone the cron is read in', example: 'Europe/Paris' })
  @IsString()
  @MaxLength(64)
  timezone!: string;

  @ApiPropertyOptional({ type: [String], nullable: true, description: 'Experiment keys; omitted or null: every running experiment at send time' })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @Matches(KEY_PATTERN, { each: true, message: 'each experiment must be an experiment key' })
  experiments?: string[] | null;
}

/** Any field of a report, with the same checks as on creation. */
export class UpdateReportDto extends PartialType(CreateReportDto) {}

/** `limit` and `offset` of a list of sends. */
export class SendsQueryDto extends PageQueryDto {}
