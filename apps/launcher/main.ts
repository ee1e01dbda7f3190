import { createServer } from 'node:net';
import { extname, join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type VerdictConfig } from '../../libs/config/config';
import { childEnvironment, loadLaunchSettings } from '../../libs/config/launch-settings';
import { NODE_FLAGS } from '../../libs/config/node-flags';
import { migrate } from '../../libs/database/migrate';
import { readOrCreateAdminKey } from '../../libs/embedded/admin-key';
import { EmbeddedPostgres } from '../../libs/embedded/embedded-postgres';
import { EmbeddedPostgresError } from '../../libs/embedded/embedded-postgres.errors';
import { createLogger } from '../../libs/logging/logger';
import { startBanner, type AdminKeySource } from './start-banner';
import { Supervisor } from './supervisor';

let logger: Logger | undefined;
let embedded: EmbeddedPostgres | null = null;
let embeddedStarting: Promise<EmbeddedPostgres> | null = null;
let supervisor: Supervisor | null = null;
let stopping: Promise<never> | null = null;

/**
 * `npm start`. With DATABASE_URL unset (outside production) it first starts the embedded
 * PostgreSQL in VERDICT_DATA_DIR (docs/adr/0021) and hands its URL to the children. Then it
 * validates the settings, creates the database if needed, applies pending migrations, and
 * runs the API and one worker as child processes, restarting either when it dies on its own
 * (docs/adr/0018). SIGTERM/SIGINT stop the API and the worker gracefully, then PostgreSQL;
 * the launcher exits 0 when everything stopped cleanly.
 */
async function main(): Promise<void> {
  const launch = loadLaunchSettings();
  logger = createLogger(launch.logLevel, 'launcher');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));
  // A launcher that dies of an error still asks PostgreSQL to shut down (a SIGKILLed one cannot: the next start cleans up).
  process.on('exit', () => embedded?.stopNow());

  const overrides: Record<string, string> = {};
  let adminKey: AdminKeySource = { kind: 'environment' };
  if (launch.embedded) {
    // A first run should not end in an API that restarts forever because port 3000 is taken.
    if (await inUse(launch.api.port, launch.api.host)) {
      throw new StartError(`Port ${launch.api.port} is in use, so the API cannot listen there: stop what listens on it, or set PORT to another port.`);
    }
    const startedAt = Date.now();
    embeddedStarting = EmbeddedPostgres.start({ dataDir: launch.embedded.dataDir, port: launch.embedded.port, logger });
    embedded = await embeddedStarting;
    if (stopping) return;
    logger.info({ ms: Date.now() - startedAt, port: embedded.port, runAs: embedded.runAs?.user }, 'embedded PostgreSQL started');
    overrides.DATABASE_URL = embedded.url;
    if (!launch.adminKeySet) {
      const { key, file, created } = readOrCreateAdminKey(launch.embedded.dataDir);
      overrides.VERDICT_ADMIN_KEY = key;
      adminKey = { kind: 'file', file, key: created ? key : undefined };
    }
  }
  const env = childEnvironment(overrides);
  const config = loadConfig(env);
  const applied = await migrate(config.database.url);
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  if (stopping) return;

  supervisor = new Supervisor(logger);
  // Children run the same way as this process: dist/**/*.js, or the TypeScript through scripts/register-swc.cjs.
  const flags = process.execArgv.filter((flag) => !flag.startsWith('--inspect'));
  for (const name of ['api', 'worker']) {
    supervisor.add({ name, command: process.execPath, args: [...flags, ...NODE_FLAGS, join(__dirname, '..', name, `main${extname(__filename)}`)], env });
  }
  if (await apiAnswers(config, () => stopping !== null)) {
    const running = embedded && { dataDir: embedded.dataDir, port: embedded.port, major: embedded.binaries.major, runAs: embedded.runAs };
    const banner = startBanner({ config, embedded: running, adminKey });
    if (process.stdout.isTTY) process.stdout.write(banner.text);
    else logger.info(banner.fields, 'Verdict is ready');
  }
}

/** Stops the API and the worker, then PostgreSQL (after them: their in-flight queries finish), then exits. */
function stop(signal: NodeJS.Signals): Promise<never> {
  stopping ??= (async () => {
    logger?.info({ signal }, embedded ? 'stopping the API and the worker, then PostgreSQL' : 'stopping the API and the worker');
    const clean = supervisor ? await supervisor.stop() : true;
    try {
      // A signal during the first start (initdb) waits for PostgreSQL to be up, then stops it.
      embedded ??= await embeddedStarting?.catch(() => null) ?? null;
      if (embedded) {
        await embedded.stop();
        logger?.info('PostgreSQL stopped');
      }
    } catch (error) {
      logger?.error({ err: error }, 'PostgreSQL did not stop cleanly');
      process.exit(1);
    }
    embedded = null;
    process.exit(clean ? 0 : 1);
  })();
  return stopping;
}

/** A start-up fault with a one-line message (cause, then fix). */
class StartError extends Error {
  override readonly name = 'StartError';
}

function inUse(port: number, host: string): Promise<boolean> {
  if (port === 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'));
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
}

/** Waits until the API answers /health (the moment the banner means), or gives up after two minutes. */
async function apiAnswers(config: VerdictConfig, cancelled: () => boolean): Promise<boolean> {
  const host = ['0.0.0.0', '::', ''].includes(config.http.host) ? '127.0.0.1' : config.http.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}/health`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !cancelled()) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((response) => response.ok, () => false);
    if (ok) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

main().catch(async (error: unknown) => {
  if (error instanceof ConfigError || error instanceof EmbeddedPostgresError || error instanceof StartError) console.error(error.message);
  else (logger ?? createLogger('fatal', 'launcher')).fatal({ err: error }, 'Verdict failed to start');
  await embedded?.stop().catch(() => undefined);
  embedded = null;
  process.exit(1);
});
