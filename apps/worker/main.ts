import 'reflect-metadata';
import { ConfigError, loadConfig } from '../../libs/config/config';
import { createLogger } from '../../libs/logging/logger';
import { createWorkerApp } from './create-worker-app';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'worker');
  await createWorkerApp(config, logger);
  logger.info('Verdict worker running');
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exit(1);
});
