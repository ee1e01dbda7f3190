import { ConfigError, loadDatabaseUrl } from '../../libs/config/config';
import { migrate } from '../../libs/database/migrate';

/** `npm run migration:run`: creates the database if needed and applies pending migrations. */
migrate(loadDatabaseUrl())
  .then((applied) => {
    console.log(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'No pending migrations.');
  })
  .catch((error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  });
