import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import { dataSourceOptions } from './data-source';

/**
 * The connection. The app (the composition root) passes every context's entities: a
 * process's metadata must be whole even when it imports only some contexts (the worker has
 * no auth module, but reports relate to projects). Each context module still registers its
 * own with TypeOrmModule.forFeature for its repositories; `autoLoadEntities` adds any that an
 * app's list lacks, which test/e2e/contract.test.ts then reports.
 */
@Module({})
export class DatabaseModule {
  static forRoot(url: string, entities: NonNullable<DataSourceOptions['entities']>): DynamicModule {
    return { module: DatabaseModule, imports: [TypeOrmModule.forRoot({ ...dataSourceOptions(url, entities), autoLoadEntities: true, retryAttempts: 3 })] };
  }
}
