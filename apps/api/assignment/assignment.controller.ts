import { Body, Controller, Get, Headers, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AssignmentService } from '../../../libs/assignment/assignment.service';
import { ConfigStreams } from '../../../libs/assignment/config-streams';
import { ExposureStatsService, type PhaseSrm } from '../../../libs/assignment/exposure-stats.service';
import { SnapshotService } from '../../../libs/assignment/snapshot.service';
import type { Principal } from '../../../libs/auth/principal';
import { ExperimentsService } from '../../../libs/experiments/experiments.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { parseAssignBatch } from './assign-request';
import { AcceptedResponse, AssignBatchDto, AssignBatchResponse, ExposuresDto } from './assign.dto';

/** POST /v1/assign is not here: it is a plain Fastify route (assign.route.ts, docs/adr/0012). */
@ApiTags('assignment')
@ApiBearerAuth()
@Controller('v1')
export class AssignmentController {
  constructor(
    private readonly assignment: AssignmentService,
    private readonly snapshots: SnapshotService,
    private readonly streams: ConfigStreams,
    private readonly experiments: ExperimentsService,
    private readonly exposureStats: ExposureStatsService,
  ) {}

  @Post('assign/batch')
  @HttpCode(200)
  @Scopes('sdk')
  @ApiOperation({ summary: 'Assign up to 1,000 units; answers in the same order' })
  @ApiResponse({ status: 200, type: AssignBatchResponse })
  @ApiBody({ type: AssignBatchDto })
  assignBatch(@CurrentPrincipal() principal: Principal, @Body() body: unknown): AssignBatchResponse {
    return { assignments: this.assignment.assignBatch(principal.projectId, parseAssignBatch(body)) };
  }

  @Post('exposures')
  @HttpCode(202)
  @Scopes('sdk')
  @ApiOperation({ summary: 'Exposures from SDKs that assign locally; acknowledged once enqueued' })
  @ApiResponse({ status: 202, type: AcceptedResponse })
  exposures(@CurrentPrincipal() principal: Principal, @Body() body: ExposuresDto): Promise<AcceptedResponse> {
    return this.assignment.recordExposures(principal.projectId, body.exposures);
  }

  @Get('sdk/config')
  @Scopes('sdk')
  @ApiOperation({ summary: 'The config snapshot SDKs evaluate locally, with an ETag (304 when unchanged)' })
  config(
    @CurrentPrincipal() principal: Principal,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() reply: FastifyReply,
  ): void {
    const project = this.snapshots.get(principal.projectId);
    void reply.header('etag', project.etag).header('cache-control', 'no-cache');
    if (ifNoneMatch === project.etag) {
      void reply.status(304).send();
      return;
    }
    void reply.type('application/json').send(project.json);
  }

  @Get('sdk/config/stream')
  @Scopes('sdk')
  @ApiOperation({
    summary: 'Server-sent events: a `config` event with the full snapshot at connect and at every change',
    description: 'Bounded per key and per replica (429 / 503 with Retry-After); a client that does not read is disconnected.',
  })
  @ApiResponse({ status: 429, description: 'This key has its maximum of open streams on this replica' })
  @ApiResponse({ status: 503, description: 'This replica serves its maximum of streams' })
  stream(@CurrentPrincipal() principal: Principal, @Res() reply: FastifyReply): void {
    this.streams.open(principal.projectId, principal.keyId, () => {
      reply.hijack();
      return reply.raw;
    });
  }

  @Get('experiments/:key/srm')
  @Scopes('admin')
  @ApiOperation({ summary: 'Sample ratio mismatch per phase: exposed units against the weights (flag at p < 0.001)' })
  async srm(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<PhaseSrm[]> {
    const experiment = await this.experiments.get(principal.projectId, key);
    return this.exposureStats.srmByPhase(experiment.id);
  }
}
