import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ALL_ENTITIES } from '../../apps/launcher/entities';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';

const OPENAPI_FILE = join(__dirname, '../../docs/openapi.json');

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

it('has migrations that match the entities (no pending schema change)', async () => {
  const sql = await t.db.driver.createSchemaBuilder().log();
  expect(sql.upQueries.map((q) => q.query)).toEqual([]);
});

it('connects with exactly the entities the schema check covers: no context registers one missing from apps/launcher/entities.ts', () => {
  const registered = t.app.get(DataSource).entityMetadatas.map((m) => m.name).sort();
  expect(registered).toEqual(ALL_ENTITIES.map((e) => e.name).sort());
});

it('serves the OpenAPI document committed in docs/openapi.json (npm run openapi:write refreshes it)', async () => {
  const served = (await client(t.url).get('/docs/openapi.json')).body;
  const text = `${JSON.stringify(served, null, 2)}\n`;
  if (process.env.UPDATE_OPENAPI === '1') writeFileSync(OPENAPI_FILE, text);
  expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(text);
});
