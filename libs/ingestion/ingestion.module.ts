import { Module } from '@nestjs/common';
import { AssignmentModule } from '../assignment/assignment.module';
import { ExperimentsModule } from '../experiments/experiments.module';
import { IngestionService } from './ingestion.service';
import { OutcomeBuffer } from './outcome-buffer';
import { OutcomeRulesService } from './outcome-rules.service';
import { OutcomeProducer } from './outcome.producer';

/** Outcome and feedback intake for the API. Needs QueueModule and RedisModule. */
@Module({
  imports: [AssignmentModule, ExperimentsModule],
  providers: [IngestionService, OutcomeRulesService, OutcomeProducer, OutcomeBuffer],
  exports: [IngestionService],
})
export class IngestionModule {}
