import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ExperimentPhaseEntity } from './experiment-phase.entity';
import { ExperimentEntity } from './experiment.entity';
import { ExperimentsService } from './experiments.service';

@Module({
  imports: [TypeOrmModule.forFeature([ExperimentEntity, ExperimentPhaseEntity]), AuditModule],
  providers: [ExperimentsService],
  exports: [ExperimentsService],
})
export class ExperimentsModule {}
