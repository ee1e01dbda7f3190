import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { Logger } from 'pino';
import type { VerdictConfig } from '../../libs/config/config';
import { PinoNestLogger } from '../../libs/logging/logger';
import { WorkerModule } from './worker.module';

/** The worker application context (no HTTP): used by main and by the tests. */
export async function createWorkerApp(config: VerdictConfig, logger: Logger): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.register(config), { logger: new PinoNestLogger(logger) });
  app.enableShutdownHooks();
  await app.init();
  return app;
}
