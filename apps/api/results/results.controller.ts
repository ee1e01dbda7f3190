import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ResultsService } from '../../../libs/analysis/results.service';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { ExperimentResponse } from '../experiments/experiment-response.dto';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { DailySeriesResponse, MetricEstimateResponse, ResultsQueryDto, ResultsResponse } from './results-response.dto';

@ApiTags('results')
// Referenced from VariantResultResponse.metrics (a map), which the scanner does not follow.
@ApiExtraModels(MetricEstimateResponse)
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/experiments')
export class ResultsController {
  constructor(private readonly results: ResultsService) {}

  @Get(':key/results')
  @ApiOperation({ summary: 'Per-variant estimates, comparisons with the control, SRM, guardrails and the recommended decision' })
  @ApiParam({ name: 'key' })
  @ApiResponse({ status: 200, type: ResultsResponse })
  get(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Query() query: ResultsQueryDto): Promise<ResultsResponse> {
    return this.results.results(principal.projectId, key, query.phase);
  }

  @Get(':key/results/daily')
  @ApiOperation({ summary: 'Cumulative estimates at the end of each day (UTC), for charts' })
  @ApiParam({ name: 'key' })
  @ApiResponse({ status: 200, type: DailySeriesResponse })
  daily(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Query() query: ResultsQueryDto): Promise<DailySeriesResponse> {
    return this.results.dailySeries(principal.projectId, key, query.phase);
  }

  @Post(':key/conclude-recommended')
  @HttpCode(200)
  @ApiOperation({ summary: 'Conclude with the recommended winner (ship: the treatment; keep_control: the control); 409 otherwise' })
  @ApiParam({ name: 'key' })
  @ApiResponse({ status: 200, type: ExperimentResponse })
  @ApiResponse({ status: 409, description: 'The decision is continue or stop: no winner to roll out.' })
  async concludeRecommended(@CurrentPrincipal() principal: Principal, @Param('key') key: string): Promise<ExperimentResponse> {
    return ExperimentResponse.from(await this.results.concludeRecommended(principal.projectId, toActor(principal), key));
  }
}
