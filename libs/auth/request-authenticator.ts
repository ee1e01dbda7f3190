import { Inject, Injectable } from '@nestjs/common';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { ForbiddenError, TooManyRequestsError, UnauthenticatedError } from '../errors/domain-error';
import type { ApiKeyScope } from './api-key.entity';
import { ApiKeysService } from './api-keys.service';
import type { Principal } from './principal';
import { RateLimiter } from './rate-limiter';

/**
 * Who may call a route: the Bearer key of an Authorization header, checked against the
 * route's scopes and the key's rate limit (docs/adr/0003). One instance per process, so
 * the Nest guard and the plain Fastify routes (docs/adr/0012) share the same buckets.
 */
@Injectable()
export class RequestAuthenticator {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly keys: ApiKeysService,
    @Inject(VERDICT_CONFIG) config: VerdictConfig,
  ) {
    this.limiter = new RateLimiter(config.auth.rateLimitPerSecond);
  }

  /**
   * The principal of the request, or throws 401, 403 or 429 as a DomainError. Answers
   * synchronously (no promise, no hashing) when the same header value was verified in
   * the last 30 s and not revoked since; otherwise returns a promise.
   */
  authorize(header: string | undefined, scopes: readonly ApiKeyScope[]): Principal | Promise<Principal> {
    if (header !== undefined) {
      const now = Date.now();
      const cached = this.keys.cachedPrincipal(header, now);
      if (cached !== undefined) return this.admit(cached, scopes, now);
    }
    return this.lookUp(header, scopes);
  }

  private async lookUp(header: string | undefined, scopes: readonly ApiKeyScope[]): Promise<Principal> {
    const secret = bearerToken(header);
    if (!secret) throw new UnauthenticatedError('Send an API key as "Authorization: Bearer <key>".');
    const principal = await this.keys.authenticate(secret, header);
    return this.admit(principal, scopes, Date.now());
  }

  private admit(principal: Principal | null, scopes: readonly ApiKeyScope[], now: number): Principal {
    if (!principal) throw new UnauthenticatedError('The API key is unknown or revoked.');
    if (!scopes.includes(principal.scope)) {
      throw new ForbiddenError(`This route needs a key of scope ${scopes.join(' or ')}; this key's scope is ${principal.scope}.`);
    }
    const wait = this.limiter.take(principal.keyId, now);
    if (wait > 0) throw new TooManyRequestsError('Rate limit exceeded for this API key.', wait);
    return principal;
  }
}

/** The key of an `Authorization: Bearer <key>` header value, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}
