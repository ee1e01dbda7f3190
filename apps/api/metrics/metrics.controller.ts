import { Controller, Get, Header } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../../libs/auth/principal';
import { OperatorMetrics } from '../../../libs/observability/operator-metrics';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';

@ApiTags('operations')
@ApiBearerAuth()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: OperatorMetrics) {}

  @Get('metrics')
  @Scopes('admin')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Operator metrics in Prometheus text format (bootstrap admin key only)' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'Prometheus text exposition format 0.0.4', schema: { type: 'string' } })
  metricsText(@CurrentPrincipal() principal: Principal): Promise<string> {
    return this.metrics.renderFor(principal);
  }
}
