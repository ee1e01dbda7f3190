import 'reflect-metadata';
import type { Logger } from 'pino';
import { ConfigError, loadConfig } from '../../libs/config/config';
import { createLogger } from '../../libs/logging/logger';
import { createApiApp } from './create-api-app';

let logger: Logger | undefined;

async function main(): Promise<void> {
  const config = loadConfig();
  logger = createLogger(config.logLevel, 'api');
  const app = await createApiApp(config, logger);
  await app.listen(config.http.port, config.http.host);
  logger.info({ port: config.http.port }, 'Verdict API listening');
}

main().catch((error: unknown) => {
  // Through the logger, not console.error: a failed query's parameters (a key hash) must not be printed.
  if (error instanceof ConfigError) console.error(error.message);
  else (logger ?? createLogger('fatal', 'api')).fatal({ err: error }, 'Verdict API failed to start');
  process.exit(1);
});
