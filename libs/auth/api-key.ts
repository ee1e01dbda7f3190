import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyScope } from './api-key.entity';

/** A new key: `vk_<scope>_<43 chars of base64url>` = 256 random bits. */
export function generateApiKey(scope: ApiKeyScope): string {
  return `vk_${scope}_${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * What listings and the audit log show of a key: enough to tell keys apart, too little to
 * use. A generated key shows `vk_<scope>_` and 3 of its 43 random characters; an
 * operator-chosen key (VERDICT_ADMIN_KEY, 16+ characters) at most a quarter, and never
 * more than 4 characters, of itself.
 */
export function keyPrefix(key: string): string {
  return key.slice(0, key.length >= 48 ? 12 : Math.min(4, Math.floor(key.length / 4)));
}
