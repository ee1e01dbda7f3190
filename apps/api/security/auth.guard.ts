import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ApiKeyScope } from '../../../libs/auth/api-key.entity';
import { RequestAuthenticator } from '../../../libs/auth/request-authenticator';
import { ForbiddenError } from '../../../libs/errors/domain-error';
import type { AuthenticatedRequest } from './principal.decorator';
import { PUBLIC_KEY, SCOPES_KEY } from './scopes.decorator';

/**
 * Global guard: every route needs a Bearer key of an accepted scope, unless it is
 * marked @Public(). A route that declares neither is refused, so a forgotten
 * decorator fails closed. The key, scope and rate-limit checks are RequestAuthenticator's,
 * shared with the plain Fastify routes (docs/adr/0012).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: RequestAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const scopes = this.reflector.getAllAndOverride<ApiKeyScope[] | undefined>(SCOPES_KEY, targets);
    if (!scopes?.length) throw new ForbiddenError('This route declares no scope.');

    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    request.principal = await this.authenticator.authorize(request.headers.authorization, scopes, request.ip);
    return true;
  }
}
