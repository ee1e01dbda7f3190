import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The architecture's rules (.dependency-cruiser.cjs, docs/adr/0020) hold on this repository, and
 * each of them fires on a small tree that breaks it: `npm run arch` would fail CI.
 */
const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'check-architecture.mjs');

async function check(root?: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SCRIPT, ...(root ? [root] : [])], { cwd: ROOT });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

/** A tree of files under a temporary root that resolves npm packages from this repository. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'verdict-arch-'));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

it('holds on this repository', async () => {
  const { code, output } = await check();
  expect(output).toMatch(/architecture: \d+ modules, 0 violation\(s\)/);
  expect(code).toBe(0);
});

it('fails on each broken rule, naming it', async () => {
  const root = tree({
    'apps/api/main.ts': 'export const app = 1;\n',
    'libs/analysis/a.ts': "import { app } from '../../apps/api/main';\nexport const a = app;\n",
    'libs/stats/bad.ts': "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n",
    'libs/assignment/core/x.ts': "import { Pool } from 'pg';\nexport const p = Pool;\n",
    'libs/metrics/m.ts': "import type { a } from '../analysis/a';\nexport type M = typeof a;\n",
    'libs/sdk/src/y.ts': "import { a } from '../../analysis/a';\nexport const y = a;\n",
    'libs/sdk/src/npm.ts': "import { DataSource } from 'typeorm';\nexport const d = DataSource;\n",
    'libs/database/d.ts': "import { r } from '../reports/r';\nexport const d = () => r;\n",
    'libs/reports/r.ts': "import { d } from '../database/d';\nexport const r = () => d;\n",
  });
  roots.push(root);
  const { code, output } = await check(root);
  expect(code).toBe(1);
  for (const rule of [
    'libs-never-import-apps: libs/analysis/a.ts -> apps/api/main.ts',
    'stats-is-pure: libs/stats/bad.ts -> fs',
    'assignment-core-is-pure: libs/assignment/core/x.ts',
    'metric-registry-is-pure: libs/metrics/m.ts -> libs/analysis/a.ts',
    'sdk-imports-only-the-assignment-core: libs/sdk/src/y.ts -> libs/analysis/a.ts',
    'sdk-has-no-framework-dependencies: libs/sdk/src/npm.ts',
    'infrastructure-imports-no-context: libs/database/d.ts -> libs/reports/r.ts',
    'no-cycles-between-contexts: libs/database -> libs/reports',
    'no-cycles-between-files: libs/database/d.ts -> libs/reports/r.ts',
  ]) {
    expect(output).toContain(rule);
  }
});

it('lets the SDK compile in the assignment core and the pure storable definition', async () => {
  const root = tree({
    'libs/assignment/core/assign.ts': 'export const assign = 1;\n',
    'libs/storable/storable.ts': 'export const storable = 1;\n',
    'libs/sdk/src/client.ts': "import { assign } from '../../assignment/core/assign';\nimport { storable } from '../../storable/storable';\nimport { randomUUID } from 'node:crypto';\nexport const c = [assign, storable, randomUUID];\n",
  });
  roots.push(root);
  const { code, output } = await check(root);
  expect(output).toMatch(/0 violation\(s\)/);
  expect(code).toBe(0);
});
