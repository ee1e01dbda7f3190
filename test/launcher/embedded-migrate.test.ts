import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

jest.setTimeout(180_000);

const ROOT = join(__dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'verdict-migrate-embedded-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** `npm run migration:run` with DATABASE_URL unset: the embedded mode. */
function migrationRun(): { status: number | null; stdout: string; stderr: string } {
  const env: Record<string, string | undefined> = { ...process.env, VERDICT_DATA_DIR: dataDir, NODE_NO_WARNINGS: '1' };
  delete env.DATABASE_URL;
  delete env.NODE_ENV;
  const run = spawnSync(process.execPath, ['-r', join(ROOT, 'scripts/register-swc.cjs'), join(ROOT, 'apps/launcher/migrate.ts')], { cwd: ROOT, env, encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

it('npm run migration:run starts the data folder\'s PostgreSQL, migrates, and stops it', () => {
  const first = migrationRun();
  expect(first).toMatchObject({ status: 0, stderr: '' });
  expect(first.stdout).toMatch(/^Applied migrations: InitialSchema/);
  expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

  const second = migrationRun();
  expect(second).toMatchObject({ status: 0, stdout: 'No pending migrations.\n' });
  expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
});
