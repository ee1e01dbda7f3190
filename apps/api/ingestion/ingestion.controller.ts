import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../../libs/auth/principal';
import { IngestionService } from '../../../libs/ingestion/ingestion.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { FailedJobResponse, FeedbackDto, IngestResponse, ReplayResponse } from './outcome.dto';

@ApiTags('ingestion')
@ApiBearerAuth()
@Controller('v1')
export class IngestionController {
  constructor(private readonly ingestion: IngestionService) {}

  // POST /v1/outcomes is a plain Fastify route (outcomes.route.ts, docs/adr/0012).

  @Post('feedback')
  @HttpCode(202)
  @Scopes('sdk')
  @ApiOperation({ summary: 'Late feedback on events by id; counted once however often it is sent' })
  @ApiResponse({ status: 202, type: IngestResponse })
  feedback(@CurrentPrincipal() principal: Principal, @Body() body: FeedbackDto): Promise<IngestResponse> {
    return this.ingestion.recordFeedback(principal.projectId, body.items);
  }

  @Get('admin/ingestion/failed')
  @Scopes('admin')
  @ApiOperation({ summary: "The project's ingestion jobs in the failed set, with their reasons" })
  @ApiResponse({ status: 200, type: [FailedJobResponse] })
  failed(@CurrentPrincipal() principal: Principal): Promise<FailedJobResponse[]> {
    return this.ingestion.failedJobs(principal.projectId);
  }

  @Post('admin/ingestion/replay-failed')
  @HttpCode(200)
  @Scopes('admin')
  @ApiOperation({ summary: "Moves the project's failed ingestion jobs back to the queue (writes are idempotent)" })
  @ApiResponse({ status: 200, type: ReplayResponse })
  replayFailed(@CurrentPrincipal() principal: Principal): Promise<ReplayResponse> {
    return this.ingestion.replayFailed(principal.projectId);
  }
}
