import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ApiKeyScope } from '../../../libs/auth/api-key.entity';
import { ApiKeysService } from '../../../libs/auth/api-keys.service';
import { VERDICT_CONFIG, type VerdictConfig } from '../../../libs/config/config';
import { ForbiddenError, TooManyRequestsError, UnauthenticatedError } from '../../../libs/errors/domain-error';
import type { AuthenticatedRequest } from './principal.decorator';
import { RateLimiter } from './rate-limiter';
import { PUBLIC_KEY, SCOPES_KEY } from './scopes.decorator';

/**
 * Global guard: every route needs a Bearer key of an accepted scope, unless it is
 * marked @Public(). A route that declares neither is refused, so a forgotten
 * decorator fails closed.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
    @Inject(VERDICT_CONFIG) config: VerdictConfig,
  ) {
    this.limiter = new RateLimiter(config.auth.rateLimitPerSecond);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const scopes = this.reflector.getAllAndOverride<ApiKeyScope[] | undefined>(SCOPES_KEY, targets);
    if (!scopes?.length) throw new ForbiddenError('This route declares no scope.');

    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const secret = bearerToken(request.headers.authorization);
    if (!secret) throw new UnauthenticatedError('Send an API key as "Authorization: Bearer <key>".');
    const principal = await this.keys.authenticate(secret);
    if (!principal) throw new UnauthenticatedError('The API key is unknown or revoked.');
    if (!scopes.includes(principal.scope)) {
      throw new ForbiddenError(`This route needs a key of scope ${scopes.join(' or ')}; this key's scope is ${principal.scope}.`);
    }
    const wait = this.limiter.take(principal.keyId);
    if (wait > 0) throw new TooManyRequestsError('Rate limit exceeded for this API key.', wait);
    request.principal = principal;
    return true;
  }
}

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}
