import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { DEFAULT_LINK_HOURS, MAX_LINK_HOURS } from '../../../libs/reports/page-link';

export class PageLinkQueryDto {
  @ApiPropertyOptional({ default: DEFAULT_LINK_HOURS, maximum: MAX_LINK_HOURS, description: 'Hours the link stays valid' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_LINK_HOURS)
  hours?: number;
}

export class PageLinkResponse {
  @ApiProperty({ description: 'The results page with a signed token' }) url!: string;
  @ApiProperty() expiresAt!: string;
}

export class ResultsPageQueryDto {
  @ApiPropertyOptional({ description: 'Signed token from GET /v1/experiments/{key}/page-link or a report email' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  token?: string;
}
