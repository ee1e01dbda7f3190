import { Global, Module } from '@nestjs/common';
import { OperatorMetrics } from './operator-metrics';
import { QueueMetrics } from './queue-metrics';

/** Operator metrics (GET /metrics) for every context of the API: global, like the queue registry. Needs QueueModule. */
@Global()
@Module({ providers: [OperatorMetrics, QueueMetrics], exports: [OperatorMetrics] })
export class ObservabilityModule {}
