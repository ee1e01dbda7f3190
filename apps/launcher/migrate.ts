import { ConfigError, loadDatabaseUrl } from '../../libs/config/config';
import { migrate } from '../../libs/database/migrate';
import { createLogger } from '../../libs/logging/logger';

/** `npm run migration:run`: creates the database if needed and applies pending migrations. */
migrate(loadDatabaseUrl())
  .then((applied) => {
    console.log(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'No pending migrations.');
  })
  .catch((error: unknown) => {
    // Through the logger, not console.error: a failed query's parameters must not be printed.
    if (error instanceof ConfigError) console.error(error.message);
    else createLogger('fatal', 'migrate').fatal({ err: error }, 'migrations failed');
    process.exit(1);
  });
