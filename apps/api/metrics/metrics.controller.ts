import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { OperatorMetrics, type MetricsReader } from '../../../libs/observability/operator-metrics';
import { Public } from '../security/scopes.decorator';
import { CurrentMetricsReader, MetricsAccessGuard } from './metrics-access.guard';

@ApiTags('operations')
@ApiBearerAuth()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: OperatorMetrics) {}

  @Get('metrics')
  // Not the global key check: MetricsAccessGuard also admits the METRICS_TOKEN.
  @Public()
  @UseGuards(MetricsAccessGuard)
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Operator metrics in Prometheus text format (the bootstrap admin key, or the METRICS_TOKEN as a bearer token)' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'Prometheus text exposition format 0.0.4', schema: { type: 'string' } })
  @ApiResponse({ status: 401, description: 'No key or token, or an unknown one' })
  @ApiResponse({ status: 403, description: 'A key other than the bootstrap admin key' })
  metricsText(@CurrentMetricsReader() reader: MetricsReader): Promise<string> {
    return this.metrics.renderFor(reader);
  }
}
