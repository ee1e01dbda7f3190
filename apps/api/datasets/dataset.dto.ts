import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { DatasetCaseEntity } from '../../../libs/evaluation/dataset-case.entity';
import type { DatasetVersionEntity } from '../../../libs/evaluation/dataset-version.entity';
import { PageQueryDto } from '../http/page-query.dto';

/** Query of `POST /v1/datasets`: a JSONL upload carries the dataset's name here. */
export class DatasetUploadQueryDto {
  @ApiPropertyOptional({ description: 'Dataset name (JSONL uploads; a JSON upload gives it in the body)', example: 'support-qa' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  name?: string;
}

export class DatasetGetQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'A version number; default the latest' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  version?: number;
}

/** Documentation of the upload body (JSON form); the checks themselves are libs/evaluation/dataset-upload.ts. */
export class DatasetCaseInput {
  @ApiPropertyOptional({ description: 'The case id, unique in the dataset; default case-<index>' }) id?: string;
  @ApiPropertyOptional({ description: 'Chat messages [{role: system|user|assistant, content}] (or a prompt)', type: 'array', items: { type: 'object' } }) messages?: unknown[];
  @ApiPropertyOptional({ description: 'A single user message (or messages)' }) prompt?: string;
  @ApiPropertyOptional({ description: 'The reference answer: any JSON value' }) reference?: unknown;
  @ApiPropertyOptional({ description: 'A JSON schema the answer should conform to', type: 'object', additionalProperties: true }) schema?: Record<string, unknown>;
  @ApiPropertyOptional({ type: [String] }) tags?: string[];
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) metadata?: Record<string, unknown>;
}

export class DatasetUploadInput {
  @ApiProperty({ example: 'support-qa' }) name!: string;
  @ApiProperty({ type: [DatasetCaseInput], maxItems: 10_000 }) cases!: DatasetCaseInput[];
}

export class DatasetResponse {
  @ApiProperty({ description: 'Id of this version' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() version!: number;
  @ApiProperty() caseCount!: number;
  @ApiProperty({ description: 'sha256 of the cases' }) contentHash!: string;
  @ApiProperty() createdAt!: string;

  static from(v: DatasetVersionEntity): DatasetResponse {
    return { id: v.id, name: v.name, version: v.version, caseCount: v.caseCount, contentHash: v.contentHash, createdAt: v.createdAt.toISOString() };
  }
}

export class DatasetUploadResponse extends DatasetResponse {
  @ApiProperty({ description: 'false when the cases equal the latest version, which is returned unchanged' }) created!: boolean;
}

export class DatasetListResponse {
  @ApiProperty({ type: [DatasetResponse], description: 'The latest version of each dataset' }) items!: DatasetResponse[];
}

export class DatasetCaseResponse {
  @ApiProperty() position!: number;
  @ApiProperty() id!: string;
  @ApiProperty({ type: 'array', items: { type: 'object' } }) messages!: { role: string; content: string }[];
  @ApiProperty({ nullable: true, description: 'Any JSON value' }) reference!: unknown;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) schema!: Record<string, unknown> | null;
  @ApiProperty({ type: [String] }) tags!: string[];
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata!: Record<string, unknown>;

  static from(c: DatasetCaseEntity): DatasetCaseResponse {
    return { position: c.position, id: c.caseId, messages: c.messages, reference: c.reference, schema: c.schema, tags: c.tags, metadata: c.metadata };
  }
}

export class DatasetDetailResponse extends DatasetResponse {
  @ApiProperty({ type: [Number], description: 'Every version, newest first' }) versions!: number[];
  @ApiProperty({ type: [DatasetCaseResponse], description: 'A page of the cases (limit, offset)' }) items!: DatasetCaseResponse[];
  @ApiProperty() total!: number;
}
