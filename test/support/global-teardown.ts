import { dropDatabase } from './databases';
import { stopTestPostgres } from './embedded-test-postgres';

export default async function globalTeardown(): Promise<void> {
  const template = process.env.VERDICT_TEST_TEMPLATE;
  if (template) await dropDatabase(template);
  await stopTestPostgres();
}
