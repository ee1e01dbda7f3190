import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { EvaluationRunsService } from '../../../libs/evaluation/evaluation-runs.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { CreateEvaluationInput, EvaluationCaseListResponse, EvaluationCaseResponse, EvaluationCasesQueryDto, EvaluationListResponse, EvaluationResponse } from './evaluation.dto';

@ApiTags('evaluations')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/experiments/:key/evaluations')
@ApiParam({ name: 'key', description: 'Experiment key' })
export class EvaluationsController {
  constructor(private readonly runs: EvaluationRunsService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Start an offline evaluation run: every case of a dataset to the chosen variants through their upstreams, scored by the evaluators' })
  @ApiBody({ type: CreateEvaluationInput })
  @ApiResponse({ status: 202, type: EvaluationResponse })
  @ApiResponse({ status: 400, description: 'A field is invalid (evaluators.<i>.<option>, variants...)' })
  @ApiResponse({ status: 404, description: 'No such experiment or dataset' })
  async create(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Body() body: unknown): Promise<EvaluationResponse> {
    return EvaluationResponse.from(await this.runs.create(principal.projectId, toActor(principal), key, body));
  }

  @Get()
  @ApiOperation({ summary: "The experiment's evaluation runs, newest first (at most 100)" })
  @ApiResponse({ status: 200, type: EvaluationListResponse })
  async list(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<EvaluationListResponse> {
    return { items: (await this.runs.list(principal.projectId, key)).map((r) => EvaluationResponse.from(r)) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A run: status, progress (done, total, failed, cost, ETA) and, when done, results and the decision' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 200, type: EvaluationResponse })
  async get(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Param('id') id: string): Promise<EvaluationResponse> {
    return EvaluationResponse.from(await this.runs.get(principal.projectId, key, id));
  }

  @Get(':id/cases')
  @ApiOperation({ summary: 'Per-case answers and scores, by case then variant (limit, offset; failed=true for the failures only)' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 200, type: EvaluationCaseListResponse })
  async cases(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Param('id') id: string, @Query() query: EvaluationCasesQueryDto): Promise<EvaluationCaseListResponse> {
    const { items, total } = await this.runs.cases(principal.projectId, key, id, { variant: query.variant, limit: query.limit ?? 50, offset: query.offset ?? 0, failedOnly: query.failed ?? false });
    return { items: items.map(EvaluationCaseResponse.from), total };
  }

  @Get(':id/events')
  @ApiOperation({ summary: 'Server-sent events: a `progress` event (the run as GET returns it) at connect and at every change, until the run stops' })
  @ApiParam({ name: 'id' })
  @ApiProduces('text/event-stream')
  async events(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    let raw: FastifyReply['raw'] | null = null;
    const open = (): FastifyReply['raw'] => {
      if (!raw) {
        reply.hijack();
        raw = reply.raw;
        raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      }
      return raw;
    };
    // Errors before the first event (no such run, too many streams) are answered as problems; after it, the stream just ends.
    await this.runs
      .watch(
        principal.projectId,
        key,
        id,
        (run) => open().write(`event: progress\ndata: ${JSON.stringify(EvaluationResponse.from(run))}\n\n`) || !open().destroyed,
        () => raw?.destroyed ?? false,
      )
      .catch((error: unknown) => {
        if (!raw) throw error;
      })
      .finally(() => (raw as FastifyReply['raw'] | null)?.end());
  }

  @Post(':id/cancel')
  @ApiOperation({ summary: 'Cancel a queued, running or paused run; what was answered is kept' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 201, type: EvaluationResponse })
  @ApiResponse({ status: 409, description: 'The run has already stopped' })
  async cancel(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Param('id') id: string): Promise<EvaluationResponse> {
    return EvaluationResponse.from(await this.runs.cancel(principal.projectId, toActor(principal), key, id));
  }

  @Post(':id/resume')
  @ApiOperation({ summary: 'Resume a paused, cancelled or failed run: answered cases are kept and nothing already paid for is asked again' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 201, type: EvaluationResponse })
  @ApiResponse({ status: 409, description: 'The run is not paused, cancelled or failed' })
  async resume(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Param('id') id: string): Promise<EvaluationResponse> {
    return EvaluationResponse.from(await this.runs.resume(principal.projectId, toActor(principal), key, id));
  }
}
