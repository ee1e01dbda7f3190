import { migrate } from '../../libs/database/migrate';
import { databaseUrl, uniqueName } from './databases';
import { startTestPostgresIfNeeded } from './embedded-test-postgres';

/** Migrates one template database per test run (on an embedded PostgreSQL when none is given); each test file clones it. */
export default async function globalSetup(): Promise<void> {
  await startTestPostgresIfNeeded();
  const template = uniqueName('verdict_tpl');
  await migrate(databaseUrl(template));
  process.env.VERDICT_TEST_TEMPLATE = template;
}
