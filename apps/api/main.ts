import 'reflect-metadata';
import { ConfigError, loadConfig } from '../../libs/config/config';
import { createLogger } from '../../libs/logging/logger';
import { createApiApp } from './create-api-app';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'api');
  const app = await createApiApp(config, logger);
  await app.listen(config.http.port, config.http.host);
  logger.info({ port: config.http.port }, 'Verdict API listening');
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exit(1);
});
