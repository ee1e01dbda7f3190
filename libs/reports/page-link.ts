import { createHmac, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { PageLinkInvalidError } from './reports.errors';

export interface PageLinkClaims {
  projectId: string;
  key: string;
  /** Expiry, seconds since the epoch. */
  expiresAt: number;
}

export const DEFAULT_LINK_HOURS = 24 * 7;
export const MAX_LINK_HOURS = 24 * 31;

/**
 * Short-lived signed links to the results page (docs/adr/0010): the token names the
 * project, the experiment and the expiry, signed with HMAC-SHA256 under a key derived
 * from VERDICT_ADMIN_KEY, so links work on every replica and die when that key changes.
 */
@Injectable()
export class PageLinkSigner {
  private readonly secret: Buffer;

  constructor(@Inject(VERDICT_CONFIG) private readonly config: VerdictConfig) {
    this.secret = createHmac('sha256', config.auth.bootstrapAdminKey).update('verdict:results-page-link:v1').digest();
  }

  sign(projectId: string, key: string, hours = DEFAULT_LINK_HOURS, now = Date.now()): { url: string; token: string; expiresAt: Date } {
    const expiresAt = Math.floor(now / 1000) + Math.round(hours * 3600);
    const payload = Buffer.from(JSON.stringify({ p: projectId, k: key, e: expiresAt })).toString('base64url');
    const token = `${payload}.${this.mac(payload)}`;
    const url = `${this.config.http.publicUrl.replace(/\/$/, '')}/experiments/${encodeURIComponent(key)}?token=${token}`;
    return { url, token, expiresAt: new Date(expiresAt * 1000) };
  }

  /** The claims of a valid token for this experiment key; throws PageLinkInvalidError otherwise. */
  verify(token: string | undefined, key: string, now = Date.now()): PageLinkClaims {
    const [payload, mac] = (token ?? '').split('.');
    if (!payload || !mac) throw new PageLinkInvalidError('Open this page through a link from GET /v1/experiments/{key}/page-link or a report email.');
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new PageLinkInvalidError('The link signature is not valid.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { p: string; k: string; e: number };
    if (claims.k !== key) throw new PageLinkInvalidError('The link is for another experiment.');
    if (claims.e * 1000 < now) throw new PageLinkInvalidError('The link has expired; ask for a new one.');
    return { projectId: claims.p, key: claims.k, expiresAt: claims.e };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}
