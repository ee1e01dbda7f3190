import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../../libs/auth/principal';
import { IngestionService } from '../../../libs/ingestion/ingestion.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { FailedJobResponse, FeedbackDto, IngestResponse, OutcomesDto, ReplayResponse } from './outcome.dto';

@ApiTags('ingestion')
@ApiBearerAuth()
@Controller('v1')
export class IngestionController {
  constructor(private readonly ingestion: IngestionService) {}

  @Post('outcomes')
  @HttpCode(202)
  @Scopes('sdk')
  @ApiOperation({ summary: 'Up to 1,000 outcome events; valid ones are accepted once enqueued, the others rejected with reasons' })
  @ApiBody({ type: OutcomesDto })
  @ApiResponse({ status: 202, type: IngestResponse })
  @ApiResponse({ status: 429, description: 'The outcomes queue is too deep; Retry-After says when to retry.' })
  @ApiResponse({ status: 503, description: 'The queue is unreachable; nothing was accepted; Retry-After.' })
  // The body is typed `unknown` so that the global pipe (class-transformer + class-validator,
  // which copies and walks every nested event) leaves it alone: the service checks the batch
  // shape and each event by hand, on the hot path (docs/ingestion.md "Throughput").
  outcomes(@CurrentPrincipal() principal: Principal, @Body() body: unknown): Promise<IngestResponse> {
    return this.ingestion.recordOutcomes(principal.projectId, body);
  }

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
