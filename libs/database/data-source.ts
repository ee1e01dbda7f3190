import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';

/**
 * Connection options shared by the apps, the migration runner and the tests. The entities are
 * not listed here, so that libs/database imports no context (docs/adr/0020): each context
 * registers its own (TypeOrmModule.forFeature), and the apps, the migration CLI and the schema
 * check pass apps/launcher/entities.ts. Tables written in bulk by SQL (events, aggregates) have no entity.
 */
export function dataSourceOptions(url: string, entities: NonNullable<DataSourceOptions['entities']> = []): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
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
