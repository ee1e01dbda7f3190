import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { ExperimentsService, type Transition } from '../../../libs/experiments/experiments.service';
import { PageQueryDto } from '../http/page-query.dto';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import {
  ConcludeExperimentDto,
  CreateExperimentDto,
  ListExperimentsQueryDto,
  UpdateExperimentDto,
} from './experiment.dto';
import {
  AuditEntryResponse,
  AuditListResponse,
  ExperimentListResponse,
  ExperimentResponse,
  PhaseResponse,
} from './experiment-response.dto';

@ApiTags('experiments')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/experiments')
export class ExperimentsController {
  constructor(private readonly experiments: ExperimentsService) {}

  @Post()
  @ApiOperation({ summary: 'Define an experiment (created as a draft)' })
  @ApiResponse({ status: 201, type: ExperimentResponse })
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateExperimentDto): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.create(principal.projectId, toActor(principal), body));
  }

  @Get()
  @ApiOperation({ summary: 'List experiments, newest first' })
  @ApiResponse({ status: 200, type: ExperimentListResponse })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: ListExperimentsQueryDto): Promise<ExperimentListResponse> {
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    const { items, total } = await this.experiments.list(principal.projectId, { status: query.status, limit, offset });
    return { items: items.map(ExperimentResponse.from), total, limit, offset };
  }

  @Get(':key')
  @ApiParam({ name: 'key' })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  async get(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.get(principal.projectId, key));
  }

  @Patch(':key')
  @ApiOperation({ summary: 'Change an experiment; weight or allocation changes while running start a new phase' })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  async update(
    @CurrentPrincipal() principal: Principal,
    @Param('key') key: string,
    @Body() body: UpdateExperimentDto,
  ): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.update(principal.projectId, toActor(principal), key, body));
  }

  @Post(':key/start')
  @HttpCode(200)
  @ApiResponse({ status: 200, type: ExperimentResponse })
  start(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return this.transition(principal, key, 'start');
  }

  @Post(':key/pause')
  @HttpCode(200)
  @ApiResponse({ status: 200, type: ExperimentResponse })
  pause(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return this.transition(principal, key, 'pause');
  }

  @Post(':key/resume')
  @HttpCode(200)
  @ApiResponse({ status: 200, type: ExperimentResponse })
  resume(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return this.transition(principal, key, 'resume');
  }

  @Post(':key/stop')
  @HttpCode(200)
  @ApiResponse({ status: 200, type: ExperimentResponse })
  stop(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return this.transition(principal, key, 'stop');
  }

  @Post(':key/conclude')
  @HttpCode(200)
  @ApiOperation({ summary: 'Conclude with a winner: everyone is served the winner from now on' })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  async conclude(
    @CurrentPrincipal() principal: Principal,
    @Param('key') key: string,
    @Body() body: ConcludeExperimentDto,
  ): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.conclude(principal.projectId, toActor(principal), key, body.winner));
  }

  @Post(':key/variants/:variant/rollback')
  @HttpCode(200)
  @ApiOperation({ summary: "Roll a variant back: its units get the control from now on (a new phase)" })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  async rollback(
    @CurrentPrincipal() principal: Principal,
    @Param('key') key: string,
    @Param('variant') variant: string,
  ): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.rollbackVariant(principal.projectId, toActor(principal), key, variant));
  }

  @Post(':key/ramp/advance')
  @HttpCode(200)
  @ApiOperation({ summary: 'Advance the ramp to its next step now' })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  async advanceRamp(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.advanceRamp(principal.projectId, toActor(principal), key));
  }

  @Post(':key/ramp/hold')
  @HttpCode(200)
  @ApiOperation({ summary: 'Hold the ramp at its current step (the monitor stops advancing it)' })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  async holdRamp(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.holdRamp(principal.projectId, toActor(principal), key, true));
  }

  @Post(':key/ramp/release')
  @HttpCode(200)
  @ApiOperation({ summary: 'Release a held ramp' })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  async releaseRamp(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.holdRamp(principal.projectId, toActor(principal), key, false));
  }

  @Get(':key/phases')
  @ApiResponse({ status: 200, type: [PhaseResponse] })
  async phases(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<PhaseResponse[]> {
    return (await this.experiments.listPhases(principal.projectId, key)).map(PhaseResponse.from);
  }

  @Get(':key/audit')
  @ApiOperation({ summary: 'Every change to this experiment: who, what, before and after, when' })
  @ApiResponse({ status: 200, type: AuditListResponse })
  async auditLog(
    @CurrentPrincipal() principal: Principal,
    @Param('key') key: string,
    @Query() query: PageQueryDto,
  ): Promise<AuditListResponse> {
    const { items, total } = await this.experiments.auditLog(principal.projectId, key, query.limit ?? 100, query.offset ?? 0);
    return { items: items.map(AuditEntryResponse.from), total };
  }

  private async transition(principal: Principal, key: string, transition: Transition): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.experiments.transition(principal.projectId, toActor(principal), key, transition));
  }
}
