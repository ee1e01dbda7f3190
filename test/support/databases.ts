import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { quoteIdent } from '../../libs/database/ensure-database';

/**
 * The server the tests create their databases on: TEST_POSTGRES_URL, which global-setup points
 * at an embedded PostgreSQL when none is given and nothing answers on 127.0.0.1:5432. Read at
 * each call: global-setup imports this file before it may set the variable.
 */
export function postgresAdminUrl(): string {
  return process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function databaseUrl(name: string): string {
  const url = new URL(postgresAdminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: postgresAdminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Clones the migrated template made by global-setup: a fresh database per test file in ~100 ms. */
export async function cloneTemplate(): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const template = process.env.VERDICT_TEST_TEMPLATE;
  if (!template) throw new Error('VERDICT_TEST_TEMPLATE is not set: run the tests through jest (global-setup)');
  const name = uniqueName('verdict_test');
  await withAdmin(async (client) => {
    // Two files cloning the same template at once may collide; retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
        return;
      } catch (error) {
        if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      }
    }
  });
  return { name, url: databaseUrl(name), drop: () => dropDatabase(name) };
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

export async function createEmptyDatabase(): Promise<{ name: string; url: string }> {
  const name = uniqueName('verdict_test');
  await withAdmin((client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  return { name, url: databaseUrl(name) };
}
