import { ConfigError, loadDatabaseUrl } from '../../libs/config/config';
import { loadLaunchSettings } from '../../libs/config/launch-settings';
import { migrate } from '../../libs/database/migrate';
import { EmbeddedPostgres } from '../../libs/embedded/embedded-postgres';
import { EmbeddedPostgresError } from '../../libs/embedded/embedded-postgres.errors';
import { createLogger } from '../../libs/logging/logger';

/**
 * `npm run migration:run`: creates the database if needed and applies pending migrations.
 * In the embedded mode (DATABASE_URL unset outside production) it starts the data folder's
 * PostgreSQL for the purpose and stops it afterwards (docs/adr/0021).
 */
async function main(): Promise<void> {
  const launch = loadLaunchSettings();
  const embedded = launch.embedded ? await EmbeddedPostgres.start({ dataDir: launch.embedded.dataDir, port: launch.embedded.port }) : null;
  try {
    const applied = await migrate(embedded ? embedded.url : loadDatabaseUrl());
    console.log(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'No pending migrations.');
  } finally {
    await embedded?.stop();
  }
}

main().catch((error: unknown) => {
  // Through the logger, not console.error: a failed query's parameters must not be printed.
  if (error instanceof ConfigError || error instanceof EmbeddedPostgresError) console.error(error.message);
  else createLogger('fatal', 'migrate').fatal({ err: error }, 'migrations failed');
  process.exit(1);
});
