import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ADMIN_KEY_FILE = 'admin-key';

/**
 * The bootstrap admin key of an embedded-mode install that set no VERDICT_ADMIN_KEY: read
 * from the data folder, or generated there (mode 0600) on the first run. `created` says
 * whether this call made it, so that the launcher prints it once.
 */
export function readOrCreateAdminKey(dataDir: string): { key: string; file: string; created: boolean } {
  const file = join(dataDir, ADMIN_KEY_FILE);
  let existing = '';
  try {
    existing = readFileSync(file, 'utf8').trim();
  } catch {
    // first run
  }
  if (existing.length >= 16) return { key: existing, file, created: false };
  const key = `vk_admin_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { key, file, created: true };
}
