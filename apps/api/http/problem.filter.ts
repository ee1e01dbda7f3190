import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../../../libs/database/database-unavailable';
import { backendErrorCode } from '../../../libs/errors/backend-error-code';
import { DomainError, type FieldError } from '../../../libs/errors/domain-error';
import { pathOnly, redactText } from '../../../libs/logging/redaction';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId: string;
  errors?: FieldError[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const DATABASE_RETRY_AFTER_SECONDS = 5;

/** Fastify's own errors (bad JSON, body too large...) carry a statusCode and a code. */
interface FastifyError {
  statusCode?: number;
  code?: string;
  message: string;
}

/**
 * Every error leaves as application/problem+json (RFC 9457) with the request id.
 * Client errors are answered as they are; a database that is away is a 503 with Retry-After;
 * anything else is a 500, logged with its id.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    if (isDatabaseUnavailable(exception)) {
      // Not a bug of ours nor of the request: the database is away. Retry-After lets a load
      // balancer or a client come back; the message says nothing of the database's address.
      this.logger.warn({ requestId: request.id, url: request.url, code: backendErrorCode((exception as { driverError?: unknown }).driverError ?? exception) }, 'database unavailable');
      void reply
        .status(503)
        .header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS))
        .type('application/problem+json')
        .send({
          type: 'https://verdict.dev/problems/unavailable',
          title: TITLES[503],
          status: 503,
          detail: 'The database is not answering; retry shortly.',
          instance: pathOnly(request.url),
          requestId: String(request.id),
        } satisfies Problem);
      return;
    }
    const problem = this.toProblem(exception, request);
    if (problem.status >= 500) {
      // The logger drops query parameters and query-string values (page tokens) from err and url.
      this.logger.error({ err: exception, requestId: request.id, url: request.url }, 'request failed');
    }
    if (exception instanceof DomainError && exception.headers) reply.headers(exception.headers);
    void reply.status(problem.status).type('application/problem+json').send(problem);
  }

  private toProblem(exception: unknown, request: FastifyRequest): Problem {
    // The path only: a query string may carry a results-page token.
    const base = { instance: pathOnly(request.url), requestId: String(request.id) };
    if (exception instanceof DomainError) {
      return {
        type: `https://verdict.dev/problems/${exception.code}`,
        title: TITLES[exception.status] ?? 'Error',
        status: exception.status,
        detail: exception.message,
        ...base,
        ...(exception.errors ? { errors: exception.errors } : {}),
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      // Nest's and Fastify's own messages may quote the URL ("Cannot GET /x?token=..."): redacted like a log line.
      const detail = redactText(typeof body === 'string' ? body : String((body as { message?: unknown }).message ?? exception.message));
      // Nest wraps Fastify's body errors (bad JSON) as HttpExceptions: they concern the body.
      const errors = status === 400 ? { errors: [{ field: 'body', message: detail }] } : {};
      return { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...base, ...errors };
    }
    const fastify = exception as FastifyError;
    if (typeof fastify?.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
      const status = fastify.statusCode;
      const detail =
        fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'The request body is larger than the limit.'
          : fastify.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? 'Send JSON with Content-Type: application/json.'
            : redactText(fastify.message);
      return {
        type: 'about:blank',
        title: TITLES[status] ?? 'Error',
        status,
        detail,
        ...base,
        ...(status === 400 ? { errors: [{ field: 'body', message: detail }] } : {}),
      };
    }
    return {
      type: 'about:blank',
      title: TITLES[500],
      status: 500,
      detail: 'An unexpected error occurred; quote the request id when reporting it.',
      ...base,
    };
  }
}
