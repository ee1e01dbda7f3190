import { Module } from '@nestjs/common';
import { OutcomeWriter } from './outcome-writer';
import { PartitionMaintainer } from './partition-maintainer';

/** Storing outcomes and keeping their aggregates: what the worker needs, without the snapshots. */
@Module({
  providers: [OutcomeWriter, PartitionMaintainer],
  exports: [OutcomeWriter, PartitionMaintainer],
})
export class OutcomeStoreModule {}
