/**
 * Test support: loads the shared reference cases. Prefers `../shared/reference`
 * beside the repository root (CI layout) and falls back to the committed copy in
 * `libs/stats/reference/`, so the reference tests never skip silently.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root not found');
    dir = parent;
  }
  return dir;
}

export function referenceDir(): string {
  const shared = path.resolve(repoRoot(), '../shared/reference');
  return fs.existsSync(path.join(shared, 'growthbook_cases.json')) ? shared : path.join(__dirname, 'reference');
}

function reviveInfinity(_key: string, value: unknown): unknown {
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return value;
}

// The reference files are free-form JSON; tests index into them by known keys.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export function growthbookCase(id: string): Json {
  const cases: Json[] = JSON.parse(fs.readFileSync(path.join(referenceDir(), 'growthbook_cases.json'), 'utf8'), reviveInfinity);
  const found = cases.find((c) => c.id === id);
  if (!found) throw new Error(`growthbook case ${id} missing`);
  return found;
}

export function scipyCase(name: string): Json {
  const cases: Json[] = JSON.parse(fs.readFileSync(path.join(referenceDir(), 'scipy_cases.json'), 'utf8'), reviveInfinity);
  const found = cases.find((c) => c.name === name);
  if (!found) throw new Error(`scipy case ${name} missing`);
  return found;
}

/** Case ids in each file, so a spec can assert that every case is covered. */
export function allCaseIds(): { growthbook: string[]; scipy: string[] } {
  const read = (f: string): Json[] => JSON.parse(fs.readFileSync(path.join(referenceDir(), f), 'utf8'));
  return { growthbook: read('growthbook_cases.json').map((c) => c.id), scipy: read('scipy_cases.json').map((c) => c.name) };
}

/** expect-style relative closeness: |a - b| <= rel * max(|b|, tiny) (+ abs floor). */
export function close(actual: number, expected: number, rel = 1e-6, abs = 0): boolean {
  if (expected === Infinity || expected === -Infinity) return actual === expected;
  return Math.abs(actual - expected) <= Math.max(rel * Math.abs(expected), abs);
}

export function expectClose(actual: number, expected: number, rel = 1e-6, abs = 0): void {
  if (!close(actual, expected, rel, abs)) {
    throw new Error(`expected ${actual} to be within rel ${rel} / abs ${abs} of ${expected}`);
  }
}
