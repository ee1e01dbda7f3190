import { Module } from '@nestjs/common';
import { OfflineVerdicts } from './offline-verdicts';

/** The offline verdicts alone, for the analysis context (no queue, no upstream client): docs/adr/0035. */
@Module({ providers: [OfflineVerdicts], exports: [OfflineVerdicts] })
export class OfflineVerdictsModule {}
