import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { DatasetsService } from './datasets.service';
import { EVALUATION_ENTITIES } from './evaluation.entities';

/** Offline evaluation: datasets of cases, evaluators, runs against an experiment's variants (issue #19). */
@Module({
  imports: [TypeOrmModule.forFeature(EVALUATION_ENTITIES), AuditModule],
  providers: [DatasetsService],
  exports: [DatasetsService],
})
export class EvaluationModule {}
