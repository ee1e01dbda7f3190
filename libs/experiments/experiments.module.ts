import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ExperimentsService } from './experiments.service';
import { EXPERIMENTS_ENTITIES } from './experiments.entities';

@Module({
  imports: [TypeOrmModule.forFeature(EXPERIMENTS_ENTITIES), AuditModule],
  providers: [ExperimentsService],
  exports: [ExperimentsService],
})
export class ExperimentsModule {}
