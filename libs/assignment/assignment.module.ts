import { Module } from '@nestjs/common';
import { ExperimentsModule } from '../experiments/experiments.module';
import { AssignmentService } from './assignment.service';
import { ConfigStreams } from './config-streams';
import { ExposureBuffer } from './exposure-buffer';
import { ExposureProducer } from './exposure.producer';
import { ExposuresModule } from './exposures.module';
import { SnapshotService } from './snapshot.service';

/** Assignment from in-memory snapshots and exposure logging. Needs QueueModule and BusModule. */
@Module({
  imports: [ExperimentsModule, ExposuresModule],
  providers: [SnapshotService, AssignmentService, ExposureBuffer, ExposureProducer, ConfigStreams],
  exports: [SnapshotService, AssignmentService, ExposureProducer, ExposuresModule, ConfigStreams],
})
export class AssignmentModule {}
