import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiExtraModels, ApiOperation, ApiParam, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { DatasetsService } from '../../../libs/evaluation/datasets.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import {
  DatasetCaseResponse,
  DatasetDetailResponse,
  DatasetGetQueryDto,
  DatasetListResponse,
  DatasetResponse,
  DatasetUploadInput,
  DatasetUploadQueryDto,
  DatasetUploadResponse,
} from './dataset.dto';

/** Content types read as JSON Lines (registered as text in create-api-app.ts). */
export const JSONL_TYPES = ['application/x-ndjson', 'application/jsonl'];

function isJsonl(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return JSONL_TYPES.includes(type);
}

@ApiTags('datasets')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/datasets')
@ApiExtraModels(DatasetUploadInput)
export class DatasetsController {
  constructor(private readonly datasets: DatasetsService) {}

  @Post()
  @ApiOperation({ summary: 'Upload a dataset (JSON {name, cases} or JSON Lines with ?name=); a changed upload makes a new version' })
  @ApiConsumes('application/json', ...JSONL_TYPES)
  @ApiBody({
    schema: { oneOf: [{ $ref: getSchemaPath(DatasetUploadInput) }, { type: 'string', description: 'JSON Lines: one case per line' }] },
  })
  @ApiResponse({ status: 201, type: DatasetUploadResponse })
  @ApiResponse({ status: 400, description: 'A case is invalid: errors name cases.<index> (JSON) or line.<n> (JSONL)' })
  @ApiResponse({ status: 413, description: 'Too many cases, or a case larger than its bound: errors name it' })
  async upload(
    @CurrentPrincipal() principal: Principal,
    @Headers('content-type') contentType: string | undefined,
    @Query() query: DatasetUploadQueryDto,
    @Body() body: unknown,
  ): Promise<DatasetUploadResponse> {
    const input = isJsonl(contentType) ? { format: 'jsonl' as const, name: query.name, text: typeof body === 'string' ? body : '' } : { format: 'json' as const, body };
    const { version, created } = await this.datasets.upload(principal.projectId, toActor(principal), input);
    return { ...DatasetResponse.from(version), created };
  }

  @Get()
  @ApiOperation({ summary: 'The latest version of every dataset' })
  @ApiResponse({ status: 200, type: DatasetListResponse })
  async list(@CurrentPrincipal() principal: Principal): Promise<DatasetListResponse> {
    return { items: (await this.datasets.list(principal.projectId)).map(DatasetResponse.from) };
  }

  @Get(':name')
  @ApiOperation({ summary: 'A dataset version (default the latest) with a page of its cases' })
  @ApiParam({ name: 'name' })
  @ApiResponse({ status: 200, type: DatasetDetailResponse })
  @ApiResponse({ status: 404, description: 'No such dataset or version' })
  async get(@CurrentPrincipal() principal: Principal, @Param('name') name: string, @Query() query: DatasetGetQueryDto): Promise<DatasetDetailResponse> {
    const { version, versions, cases } = await this.datasets.describe(principal.projectId, name, query.version, query.limit ?? 100, query.offset ?? 0);
    return { ...DatasetResponse.from(version), versions, items: cases.map(DatasetCaseResponse.from), total: version.caseCount };
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a dataset (every version); runs that used it keep their cases' })
  @ApiParam({ name: 'name' })
  @ApiResponse({ status: 204 })
  remove(@CurrentPrincipal() principal: Principal, @Param('name') name: string): Promise<void> {
    return this.datasets.remove(principal.projectId, toActor(principal), name);
  }
}
