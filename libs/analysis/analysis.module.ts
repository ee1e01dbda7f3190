import { Module } from '@nestjs/common';
import { ExposuresModule } from '../assignment/exposures.module';
import { AuditModule } from '../audit/audit.module';
import { ExperimentsModule } from '../experiments/experiments.module';
import { OfflineVerdictsModule } from '../evaluation/offline-verdicts.module';
import { AnalysisStore } from './analysis-store';
import { DailySeriesStore } from './daily-series';
import { ResultsService } from './results.service';

/** Results and decisions: reads the aggregates of ingestion and exposures, never raw events (except the bounded daily series), and the offline verdicts of evaluation runs (docs/adr/0035). */
@Module({
  imports: [ExperimentsModule, ExposuresModule, AuditModule, OfflineVerdictsModule],
  providers: [AnalysisStore, DailySeriesStore, ResultsService],
  exports: [ResultsService],
})
export class AnalysisModule {}
