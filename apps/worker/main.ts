import 'reflect-metadata';
import type { Logger } from 'pino';
import { ConfigError, loadConfig } from '../../libs/config/config';
import { createLogger } from '../../libs/logging/logger';
import { createWorkerApp } from './create-worker-app';

let logger: Logger | undefined;

async function main(): Promise<void> {
  const config = loadConfig();
  logger = createLogger(config.logLevel, 'worker');
  await createWorkerApp(config, logger);
  logger.info('Verdict worker running');
}

main().catch((error: unknown) => {
  // Through the logger, not console.error: a failed query's parameters must not be printed.
  if (error instanceof ConfigError) console.error(error.message);
  else (logger ?? createLogger('fatal', 'worker')).fatal({ err: error }, 'Verdict worker failed to start');
  process.exit(1);
});
