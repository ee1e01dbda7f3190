import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyScope } from './api-key.entity';

/** A new key: `vk_<scope>_<43 chars of base64url>` = 256 random bits. */
export function generateApiKey(scope: ApiKeyScope): string {
  return `vk_${scope}_${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** What listings show of a key: enough to tell keys apart, too little to use. */
export function keyPrefix(key: string): string {
  return key.slice(0, Math.min(12, Math.floor(key.length / 2)));
}
