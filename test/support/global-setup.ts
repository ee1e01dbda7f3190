import { migrate } from '../../libs/database/migrate';
import { databaseUrl, uniqueName } from './databases';

/** Migrates one template database per test run; each test file clones it. */
export default async function globalSetup(): Promise<void> {
  const template = uniqueName('verdict_tpl');
  await migrate(databaseUrl(template));
  process.env.VERDICT_TEST_TEMPLATE = template;
}
