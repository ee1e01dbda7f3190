import { Module } from '@nestjs/common';
import { DeadLetterStore } from './dead-letter-store';
import { OutcomeWriter } from './outcome-writer';
import { PartitionMaintainer } from './partition-maintainer';

/** Storing outcomes and keeping their aggregates, and the dead letters: what the worker needs, without the snapshots. */
@Module({
  providers: [OutcomeWriter, PartitionMaintainer, DeadLetterStore],
  exports: [OutcomeWriter, PartitionMaintainer, DeadLetterStore],
})
export class OutcomeStoreModule {}
