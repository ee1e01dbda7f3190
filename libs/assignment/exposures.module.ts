import { Module } from '@nestjs/common';
import { ExperimentsModule } from '../experiments/experiments.module';
import { ExposureStatsService } from './exposure-stats.service';
import { ExposureWriter } from './exposure-writer';

/** Storing exposures and reading their counts: what the worker and the analysis need, without the snapshots. */
@Module({
  imports: [ExperimentsModule],
  providers: [ExposureWriter, ExposureStatsService],
  exports: [ExposureWriter, ExposureStatsService],
})
export class ExposuresModule {}
