import { extname, join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, loadConfig } from '../../libs/config/config';
import { NODE_FLAGS } from '../../libs/config/node-flags';
import { migrate } from '../../libs/database/migrate';
import { createLogger } from '../../libs/logging/logger';
import { Supervisor } from './supervisor';

let logger: Logger | undefined;

/**
 * `npm start`: validates the settings, creates the database if needed, applies pending
 * migrations, then runs the API and one worker as child processes of this one, restarting
 * either when it dies on its own (docs/adr/0018). SIGTERM/SIGINT stop both gracefully; the
 * launcher exits 0 when both stopped cleanly.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  logger = createLogger(config.logLevel, 'launcher');
  const applied = await migrate(config.database.url);
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  const supervisor = new Supervisor(logger);
  // Children run the same way as this process: dist/**/*.js, or the TypeScript through scripts/register-swc.cjs.
  const flags = process.execArgv.filter((flag) => !flag.startsWith('--inspect'));
  for (const name of ['api', 'worker']) {
    supervisor.add({ name, command: process.execPath, args: [...flags, ...NODE_FLAGS, join(__dirname, '..', name, `main${extname(__filename)}`)] });
  }
  const clean = await new Promise<boolean>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        logger?.info({ signal }, 'stopping the API and the worker');
        resolve(supervisor.stop());
      });
    }
  });
  process.exit(clean ? 0 : 1);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else (logger ?? createLogger('fatal', 'launcher')).fatal({ err: error }, 'Verdict failed to start');
  process.exit(1);
});
