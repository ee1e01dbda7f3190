import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, createParamDecorator, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { bearerToken, RequestAuthenticator } from '../../../libs/auth/request-authenticator';
import { VERDICT_CONFIG, type VerdictConfig } from '../../../libs/config/config';
import type { MetricsReader } from '../../../libs/observability/operator-metrics';

type MetricsRequest = FastifyRequest & { metricsReader?: MetricsReader };

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * GET /metrics (docs/adr/0033): a bearer token equal to METRICS_TOKEN, when one is set,
 * compared in constant time (of hashes, so lengths leak nothing either); otherwise an admin
 * key, checked like every route's (rate limits included). OperatorMetrics then admits only the
 * bootstrap admin key among keys.
 */
@Injectable()
export class MetricsAccessGuard implements CanActivate {
  private readonly token: Buffer | null;

  constructor(
    private readonly authenticator: RequestAuthenticator,
    @Inject(VERDICT_CONFIG) config: VerdictConfig,
  ) {
    this.token = config.metrics.token === null ? null : digest(config.metrics.token);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<MetricsRequest>();
    const presented = bearerToken(request.headers.authorization);
    if (this.token && presented !== null && timingSafeEqual(digest(presented), this.token)) {
      request.metricsReader = { kind: 'token' };
      return true;
    }
    const principal = await this.authenticator.authorize(request.headers.authorization, ['admin'], request.ip);
    request.metricsReader = { kind: 'key', principal };
    return true;
  }
}

/** Who was let in by MetricsAccessGuard. */
export const CurrentMetricsReader = createParamDecorator((_: unknown, ctx: ExecutionContext): MetricsReader => {
  const reader = ctx.switchToHttp().getRequest<MetricsRequest>().metricsReader;
  if (!reader) throw new Error('CurrentMetricsReader used on a route without MetricsAccessGuard');
  return reader;
});
