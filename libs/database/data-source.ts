import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';

/**
 * Connection options shared by the apps, the migration runner and the tests. The entities are
 * not listed here: each context registers its own (TypeOrmModule.forFeature, collected by
 * `autoLoadEntities` in DatabaseModule), and what needs all of them at once (the migration
 * CLI, the schema check) passes apps/launcher/entities.ts; libs/database imports no context
 * (docs/adr/0020). Tables written in bulk by SQL (events, aggregates) have no entity.
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
