import { Global, Module } from '@nestjs/common';
import { OperatorMetrics } from './operator-metrics';

/** Operator metrics (GET /metrics) for every context of the API: global, like the queue registry. */
@Global()
@Module({ providers: [OperatorMetrics], exports: [OperatorMetrics] })
export class ObservabilityModule {}
