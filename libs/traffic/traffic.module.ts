import { Module } from '@nestjs/common';
import { AnalysisModule } from '../analysis/analysis.module';
import { ExperimentsModule } from '../experiments/experiments.module';
import { TrafficMonitorService } from './traffic-monitor.service';

/** Guardrail rollbacks, ramps and bandit reallocation, run by the worker's monitor job. */
@Module({
  imports: [ExperimentsModule, AnalysisModule],
  providers: [TrafficMonitorService],
  exports: [TrafficMonitorService],
})
export class TrafficModule {}
