import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EmbeddedPostgresError } from './embedded-postgres.errors';

/** The unprivileged account PostgreSQL runs as when Verdict runs as root. */
export interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: an existing `postgres` account, else `nobody`. No account is ever created. */
export const DEFAULT_ACCOUNTS = ['postgres', 'nobody'];

/**
 * Null when this process is not root (PostgreSQL runs as the same user as Verdict); else
 * the first of `accounts` that exists on this host (getent, so NSS accounts count too).
 */
export function chooseRunAs(accounts: string[] = DEFAULT_ACCOUNTS, uid: number | undefined = process.getuid?.()): RunAs | null {
  if (uid !== 0) return null;
  for (const user of accounts) {
    const found = lookupAccount(user);
    if (found) return found;
  }
  throw new EmbeddedPostgresError(
    'data_folder_unreachable',
    `PostgreSQL refuses to run as root and none of the accounts ${accounts.join(', ')} exists to run it as: run npm start as a non-root user, or set DATABASE_URL to an external PostgreSQL.`,
  );
}

function lookupAccount(user: string): RunAs | null {
  const getent = spawnSync('getent', ['passwd', user], { encoding: 'utf8' });
  const line = getent.status === 0 ? getent.stdout : passwdLine(user);
  const fields = line?.trim().split(':');
  if (!fields || fields.length < 4 || fields[0] !== user) return null;
  return { user, uid: Number(fields[2]), gid: Number(fields[3]) };
}

function passwdLine(user: string): string | undefined {
  try {
    return readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith(`${user}:`));
  } catch {
    return undefined;
  }
}

/**
 * Whether `runAs` can execute the binaries and enter `folder` (access(2) as that user, so a
 * 0700 ancestor such as root's home counts). Returns the first path it cannot reach.
 */
export function unreachableFor(runAs: RunAs, paths: Array<{ path: string; mode: 'x' | 'w' }>): string | null {
  for (const { path, mode } of paths) {
    const check = spawnSync('test', [`-${mode}`, path], { uid: runAs.uid, gid: runAs.gid });
    if (check.status !== 0) return path;
  }
  return null;
}
