import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { ApiKeyEntity } from '../auth/api-key.entity';
import { ProjectEntity } from '../auth/project.entity';
import { AuditEntryEntity } from '../audit/audit-entry.entity';
import { ExperimentPhaseEntity } from '../experiments/experiment-phase.entity';
import { ExperimentEntity } from '../experiments/experiment.entity';
import { ProjectWebhookEntity } from '../reports/project-webhook.entity';
import { ReportAlertEntity } from '../reports/report-alert.entity';
import { ReportSendEntity } from '../reports/report-send.entity';
import { ReportEntity } from '../reports/report.entity';
import { WebhookDeliveryEntity } from '../reports/webhook-delivery.entity';

/** Every TypeORM entity. Tables written in bulk by SQL (events, aggregates) have no entity. */
export const ENTITIES = [ProjectEntity, ApiKeyEntity, AuditEntryEntity, ExperimentEntity, ExperimentPhaseEntity,
  ReportEntity, ReportSendEntity, ReportAlertEntity, ProjectWebhookEntity, WebhookDeliveryEntity];

export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    // Compiled: dist/migrations/*.js; under jest: migrations/*.ts.
    migrations: [join(__dirname, '..', '..', 'migrations', '*.{js,ts}')],
    migrationsTableName: 'typeorm_migration',
    migrationsTransactionMode: 'each',
    synchronize: false,
    // gen_random_uuid() is built into Postgres 13+: no extension to install.
    uuidExtension: 'pgcrypto',
    extra: { max: 10 },
  };
}

