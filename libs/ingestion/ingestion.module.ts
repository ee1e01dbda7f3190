import { Module } from '@nestjs/common';
import { AssignmentModule } from '../assignment/assignment.module';
import { ExperimentsModule } from '../experiments/experiments.module';
import { CovariateService } from './covariate.service';
import { DeadLetterStore } from './dead-letter-store';
import { DeadLetterService } from './dead-letter.service';
import { IngestCounters } from './ingest-counters';
import { IngestionService } from './ingestion.service';
import { OutcomeBuffer } from './outcome-buffer';
import { OutcomeRulesService } from './outcome-rules.service';
import { OutcomeProducer } from './outcome.producer';

/** Outcome and feedback intake for the API, and the dead letters' admin side. Needs QueueModule, BusModule and ObservabilityModule. */
@Module({
  imports: [AssignmentModule, ExperimentsModule],
  providers: [IngestionService, OutcomeRulesService, OutcomeProducer, OutcomeBuffer, DeadLetterStore, DeadLetterService, IngestCounters, CovariateService],
  exports: [IngestionService, DeadLetterService, CovariateService],
})
export class IngestionModule {}
