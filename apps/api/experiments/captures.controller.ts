import { Controller, Delete, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { CapturesService } from '../../../libs/gateway/captures.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { CaptureListResponse, CaptureResponse, CapturesDeletedResponse, CapturesQueryDto } from './captures.dto';

/** Prompts and answers the gateway captured for an experiment that asks for it (docs/gateway.md, "Capture"; docs/adr/0039). */
@ApiTags('experiments')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/experiments/:key/captures')
export class CapturesController {
  constructor(private readonly captures: CapturesService) {}

  @Get()
  @ApiOperation({ summary: 'Page through the captured prompts and answers, newest first (limit 50 by default)' })
  @ApiParam({ name: 'key' })
  @ApiResponse({ status: 200, type: CaptureListResponse })
  async list(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Query() query: CapturesQueryDto): Promise<CaptureListResponse> {
    const page = await this.captures.list(principal.projectId, key, { variant: query.variant, cursor: query.cursor, limit: query.limit ?? 50 });
    return { items: page.items.map(CaptureResponse.from), nextCursor: page.nextCursor };
  }

  @Delete()
  @ApiOperation({ summary: 'Delete every capture of the experiment now (audited)' })
  @ApiParam({ name: 'key' })
  @ApiResponse({ status: 200, type: CapturesDeletedResponse })
  deleteAll(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<CapturesDeletedResponse> {
    return this.captures.deleteAll(principal.projectId, toActor(principal), key);
  }
}
