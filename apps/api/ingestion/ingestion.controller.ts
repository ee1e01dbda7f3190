import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../../libs/auth/principal';
import { CovariateService } from '../../../libs/ingestion/covariate.service';
import { DeadLetterService } from '../../../libs/ingestion/dead-letter.service';
import { IngestionService } from '../../../libs/ingestion/ingestion.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import {
  CovariatesDto,
  DeadLetterPage,
  DeadLetterQueryDto,
  DeletedResponse,
  FailedJobResponse,
  FeedbackDto,
  IngestResponse,
  RedriveResponse,
  ReplayResponse,
} from './outcome.dto';

@ApiTags('ingestion')
@ApiBearerAuth()
@Controller('v1')
export class IngestionController {
  constructor(
    private readonly ingestion: IngestionService,
    private readonly deadLetters: DeadLetterService,
    private readonly covariateService: CovariateService,
  ) {}

  // POST /v1/outcomes is a plain Fastify route (outcomes.route.ts, docs/adr/0012).

  @Post('feedback')
  @HttpCode(202)
  @Scopes('sdk')
  @ApiOperation({ summary: 'Late feedback on events by id; counted once however often it is sent' })
  @ApiResponse({ status: 202, type: IngestResponse })
  feedback(@CurrentPrincipal() principal: Principal, @Body() body: FeedbackDto): Promise<IngestResponse> {
    return this.ingestion.recordFeedback(principal.projectId, body.items);
  }

  @Post('covariates')
  @HttpCode(202)
  @Scopes('sdk')
  @ApiOperation({
    summary: 'Client-supplied CUPED covariates: a value per unit and metric known before the experiment (the latest wins); they replace the pre-period covariate of that metric',
  })
  @ApiResponse({ status: 202, type: IngestResponse })
  covariates(@CurrentPrincipal() principal: Principal, @Body() body: CovariatesDto): Promise<IngestResponse> {
    return this.covariateService.record(principal.projectId, body.items);
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

  @Get('admin/ingestion/dead-letters')
  @Scopes('admin')
  @ApiOperation({ summary: "The project's dead letters: acknowledged items the worker could not store, with the reason (oldest first)" })
  @ApiResponse({ status: 200, type: DeadLetterPage })
  listDeadLetters(@CurrentPrincipal() principal: Principal, @Query() query: DeadLetterQueryDto): Promise<DeadLetterPage> {
    return this.deadLetters.list(principal.projectId, query);
  }

  @Delete('admin/ingestion/dead-letters/:id')
  @HttpCode(204)
  @Scopes('admin')
  @ApiOperation({ summary: 'Deletes one dead letter (its item is given up)' })
  @ApiResponse({ status: 204 })
  deleteDeadLetter(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    return this.deadLetters.remove(principal.projectId, id);
  }

  @Delete('admin/ingestion/dead-letters')
  @Scopes('admin')
  @ApiOperation({ summary: "Deletes every dead letter of the project" })
  @ApiResponse({ status: 200, type: DeletedResponse })
  deleteDeadLetters(@CurrentPrincipal() principal: Principal): Promise<DeletedResponse> {
    return this.deadLetters.removeAll(principal.projectId);
  }

  @Post('admin/ingestion/dead-letters/:id/redrive')
  @HttpCode(200)
  @Scopes('admin')
  @ApiOperation({ summary: 'Checks one dead letter with the current definition and, if it passes, queues it again' })
  @ApiResponse({ status: 200, type: RedriveResponse })
  redriveDeadLetter(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<RedriveResponse> {
    return this.deadLetters.redrive(principal.projectId, id);
  }

  @Post('admin/ingestion/dead-letters/redrive')
  @HttpCode(200)
  @Scopes('admin')
  @ApiOperation({ summary: "Re-drives the project's dead letters (the oldest 1,000 per call; `remaining` says what is left)" })
  @ApiResponse({ status: 200, type: RedriveResponse })
  redriveDeadLetters(@CurrentPrincipal() principal: Principal): Promise<RedriveResponse> {
    return this.deadLetters.redrive(principal.projectId, null);
  }
}
