import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { OutboundModule } from '../outbound/outbound.module';
import { ExperimentsService } from './experiments.service';
import { EXPERIMENTS_ENTITIES } from './experiments.entities';

@Module({
  imports: [TypeOrmModule.forFeature(EXPERIMENTS_ENTITIES), AuditModule, OutboundModule],
  providers: [ExperimentsService],
  exports: [ExperimentsService],
})
export class ExperimentsModule {}
