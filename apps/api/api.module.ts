import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AnalysisModule } from '../../libs/analysis/analysis.module';
import { AssignmentModule } from '../../libs/assignment/assignment.module';
import { AuditModule } from '../../libs/audit/audit.module';
import { AuthModule } from '../../libs/auth/auth.module';
import type { VerdictConfig } from '../../libs/config/config';
import { ConfigModule } from '../../libs/config/config.module';
import { DatabaseModule } from '../../libs/database/database.module';
import { ALL_ENTITIES } from '../launcher/entities';
import { EvaluationModule } from '../../libs/evaluation/evaluation.module';
import { ExperimentsModule } from '../../libs/experiments/experiments.module';
import { IngestionModule } from '../../libs/ingestion/ingestion.module';
import { GatewayModule } from '../../libs/gateway/gateway.module';
import { ObservabilityModule } from '../../libs/observability/observability.module';
import { QueueModule } from '../../libs/queue/queue.module';
import { BusModule } from '../../libs/bus/bus.module';
import { ReportsModule } from '../../libs/reports/reports.module';
import { AssignmentController } from './assignment/assignment.controller';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { DatasetsController } from './datasets/datasets.controller';
import { EvaluationsController } from './evaluations/evaluations.controller';
import { CapturesController } from './experiments/captures.controller';
import { ExperimentsController } from './experiments/experiments.controller';
import { HealthController } from './health/health.controller';
import { IngestionController } from './ingestion/ingestion.controller';
import { MetricsController } from './metrics/metrics.controller';
import { ProblemFilter } from './http/problem.filter';
import { ResultsPageController } from './pages/results-page.controller';
import { ProjectsController } from './projects/projects.controller';
import { ReportsController } from './reports/reports.controller';
import { WebhookController } from './reports/webhook.controller';
import { ResultsController } from './results/results.controller';
import { AuthGuard } from './security/auth.guard';

/** The HTTP service: controllers only; the logic lives in the context modules it imports. */
@Module({})
export class ApiModule {
  static register(config: VerdictConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(config.database.url, ALL_ENTITIES),
        BusModule.forRoot(config),
        QueueModule,
        ObservabilityModule,
        AuditModule,
        AuthModule,
        ExperimentsModule,
        AssignmentModule,
        IngestionModule,
        AnalysisModule,
        ReportsModule,
        GatewayModule,
        EvaluationModule,
      ],
      controllers: [HealthController, ProjectsController, ApiKeysController, ExperimentsController, CapturesController, AssignmentController, IngestionController, ResultsController, ReportsController, ResultsPageController, WebhookController, MetricsController, DatasetsController, EvaluationsController],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
    };
  }
}
