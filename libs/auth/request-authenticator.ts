import { Inject, Injectable } from '@nestjs/common';
import ipaddr from 'ipaddr.js';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { ForbiddenError, TooManyRequestsError, UnauthenticatedError } from '../errors/domain-error';
import type { ApiKeyScope } from './api-key.entity';
import { ApiKeysService } from './api-keys.service';
import type { Principal } from './principal';
import { RateLimiter } from './rate-limiter';

/** Client addresses whose unknown-key budget is remembered; the least recently seen go first. */
const ADDRESS_BUCKETS_MAX = 50_000;

/**
 * Who may call a route: the Bearer key of an Authorization header, checked against the
 * route's scopes and the key's rate limit (docs/adr/0003). One instance per process, so
 * the Nest guard and the plain Fastify routes (docs/adr/0012) share the same buckets.
 *
 * Keys not in memory cost a database lookup. A client address may make at most
 * UNKNOWN_KEY_LOOKUPS_PER_MINUTE lookups of keys that turn out unknown (a bucket per address,
 * IPv6 by /64, bursts of a minute's worth); past that it gets 429 without a lookup, so
 * floods of random keys cannot reach the database per request (docs/adr/0017). Keys that
 * were valid when last looked up are looked up again freely when their entry expires.
 */
@Injectable()
export class RequestAuthenticator {
  private readonly limiter: RateLimiter;
  private readonly unknownKeyLookups: RateLimiter;

  constructor(
    private readonly keys: ApiKeysService,
    @Inject(VERDICT_CONFIG) config: VerdictConfig,
  ) {
    this.limiter = new RateLimiter(config.auth.rateLimitPerSecond);
    const perMinute = config.auth.unknownKeyLookupsPerMinute;
    this.unknownKeyLookups = new RateLimiter(perMinute / 60, perMinute, ADDRESS_BUCKETS_MAX);
  }

  /**
   * The principal of the request, or throws 401, 403 or 429 as a DomainError. Answers
   * synchronously (no promise, no hashing) when the same header value was verified in
   * the last 30 s and not revoked since, or found unknown; otherwise returns a promise.
   * `address` is the client's (request.ip), for the budget of unknown-key lookups.
   */
  authorize(header: string | undefined, scopes: readonly ApiKeyScope[], address = ''): Principal | Promise<Principal> {
    if (header !== undefined) {
      const now = Date.now();
      const cached = this.keys.cachedPrincipal(header, now);
      if (cached !== undefined) return this.admit(cached, scopes, now);
    }
    return this.lookUp(header, scopes, address);
  }

  private async lookUp(header: string | undefined, scopes: readonly ApiKeyScope[], address: string): Promise<Principal> {
    const secret = bearerToken(header);
    if (!secret) throw new UnauthenticatedError('Send an API key as "Authorization: Bearer <key>".');
    const budgeted = !this.keys.wasValid(header!);
    const client = addressKey(address);
    if (budgeted) {
      const wait = this.unknownKeyLookups.take(client);
      if (wait > 0) throw new TooManyRequestsError('Too many requests with unknown API keys from this address.', wait);
    }
    const principal = await this.keys.authenticate(secret, header);
    if (budgeted && principal) this.unknownKeyLookups.refund(client);
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

/** The budget key of a client address: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by its /64. */
export function addressKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${(parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16)).join(':')}::/64`;
}
