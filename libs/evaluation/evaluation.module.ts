import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { ExperimentsModule } from '../experiments/experiments.module';
import { OutboundClient } from '../outbound/outbound-client';
import { AnswerCacheRetention } from './answer-cache-retention';
import { DatasetsService } from './datasets.service';
import { EVALUATION_CALLER } from './evaluation-caller';
import { EvaluationRunner } from './evaluation-runner.service';
import { EvaluationProducer, EvaluationRunsService } from './evaluation-runs.service';
import { EVALUATION_ENTITIES } from './evaluation.entities';
import { UpstreamCaller } from './upstream-caller';
import { UpstreamLimiter } from './upstream-limiter';

const EVALUATION_OUTBOUND = Symbol('EVALUATION_OUTBOUND');

@Injectable()
class EvaluationOutboundCloser implements OnApplicationShutdown {
  constructor(@Inject(EVALUATION_OUTBOUND) private readonly client: OutboundClient) {}
  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

/** Offline evaluation: datasets of cases, evaluators, runs against an experiment's variants (issue #19). Needs QueueModule. */
@Module({
  imports: [TypeOrmModule.forFeature(EVALUATION_ENTITIES), AuditModule, ExperimentsModule],
  providers: [
    {
      provide: EVALUATION_OUTBOUND,
      inject: [VERDICT_CONFIG],
      useFactory: (config: VerdictConfig) =>
        new OutboundClient({ allowHttp: config.outbound.allowHttp, allowedCidrs: config.outbound.allowedCidrs, connectionsPerOrigin: config.gateway.connectionsPerUpstream }),
    },
    {
      provide: EVALUATION_CALLER,
      inject: [EVALUATION_OUTBOUND, VERDICT_CONFIG],
      // One limiter per process: every run's calls to an upstream base URL share its bound (docs/adr/0040).
      useFactory: (outbound: OutboundClient, config: VerdictConfig) =>
        new UpstreamCaller(outbound, (name) => config.gateway.credential(name), new UpstreamLimiter(config.evaluation.upstreamMaxInFlight)),
    },
    EvaluationOutboundCloser,
    DatasetsService,
    EvaluationProducer,
    EvaluationRunsService,
    EvaluationRunner,
    AnswerCacheRetention,
  ],
  exports: [DatasetsService, EvaluationRunsService, EvaluationRunner, AnswerCacheRetention],
})
export class EvaluationModule {}
