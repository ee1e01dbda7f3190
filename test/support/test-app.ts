import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createApiApp } from '../../apps/api/create-api-app';
import { ALL_ENTITIES } from '../../apps/launcher/entities';
import { loadConfig, type VerdictConfig } from '../../libs/config/config';
import { dataSourceOptions } from '../../libs/database/data-source';
import { createLogger } from '../../libs/logging/logger';
import { backendSettings, defaultTestBackend } from './backends';
import { cloneTemplate } from './databases';

export interface TestApp {
  url: string;
  adminKey: string;
  config: VerdictConfig;
  app: NestFastifyApplication;
  /** A direct connection to the test's database (with every context's entities), for assertions on stored rows. */
  db: DataSource;
  close(): Promise<void>;
}

/** A Redis key prefix of the test file's own, so parallel runs never see each other. */
export function testPrefix(): string {
  return `verdict-test-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export function testConfig(databaseUrl: string, overrides: Record<string, string> = {}): VerdictConfig {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    ...backendSettings(defaultTestBackend()),
    VERDICT_REDIS_PREFIX: testPrefix(),
    VERDICT_ADMIN_KEY: `test-admin-${randomBytes(16).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    ...overrides,
  });
}

/** The real API on a fresh clone of the migrated database, listening on a random local port. */
export async function startTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const database = await cloneTemplate();
  const config = testConfig(database.url, overrides);
  const app = await createApiApp(config, createLogger(config.logLevel, 'api-test'));
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const db = new DataSource({ ...dataSourceOptions(database.url, ALL_ENTITIES), extra: { max: 2 } });
  await db.initialize();
  return {
    url: `http://127.0.0.1:${port}`,
    adminKey: config.auth.bootstrapAdminKey,
    config,
    app,
    db,
    async close() {
      await app.close();
      await db.destroy();
      await database.drop();
    },
  };
}

/** A second API replica on the same database and Redis prefix, as behind a load balancer. */
export async function startReplica(of: TestApp): Promise<{ url: string; app: NestFastifyApplication; close(): Promise<void> }> {
  const app = await createApiApp(of.config, createLogger(of.config.logLevel, 'api-replica-test'));
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, app, close: () => app.close() };
}
