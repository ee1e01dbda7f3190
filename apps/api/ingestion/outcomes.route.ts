import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject, OperationObject } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import type { ApiKeyScope } from '../../../libs/auth/api-key.entity';
import { RequestAuthenticator } from '../../../libs/auth/request-authenticator';
import { IngestionService } from '../../../libs/ingestion/ingestion.service';

export const OUTCOMES_PATH = '/v1/outcomes';
const SDK_SCOPES: readonly ApiKeyScope[] = ['sdk'];

/**
 * POST /v1/outcomes as a plain Fastify route (docs/adr/0012): the route product backends
 * call once per model call when they do not batch. It does what the Nest route of scope
 * `sdk` did: RequestAuthenticator checks key, scope and rate limit (the AuthGuard's
 * buckets), IngestionService validates each event by hand and answers 202 once the valid
 * ones are enqueued; errors (400, 401, 403, 429, 503) reach Nest's ProblemFilter.
 */
export function outcomesRoute(app: NestFastifyApplication): (scope: FastifyInstance) => void {
  const authenticator = app.get(RequestAuthenticator);
  const ingestion = app.get(IngestionService);
  return (scope) => {
    scope.post(OUTCOMES_PATH, async (request, reply) => {
      const principal = await authenticator.authorize(request.headers.authorization, SDK_SCOPES, request.ip);
      const result = await ingestion.recordOutcomes(principal.projectId, request.body);
      void reply.code(202);
      return result;
    });
  };
}

/** How OpenAPI describes the route: what `@nestjs/swagger` generated for it when it was a Nest route. */
const OUTCOMES_OPERATION: OperationObject = {
  operationId: 'IngestionController_outcomes',
  parameters: [],
  requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/OutcomesDto' } } } },
  responses: {
    '202': { description: '', content: { 'application/json': { schema: { $ref: '#/components/schemas/IngestResponse' } } } },
    '429': { description: 'The outcomes queue is too deep; Retry-After says when to retry.' },
    '503': { description: 'The queue is unreachable; nothing was accepted; Retry-After.' },
  },
  security: [{ bearer: [] }],
  summary: 'Up to 1,000 outcome events; valid ones are accepted once enqueued, the others rejected with reasons',
  tags: ['ingestion'],
};

/** Adds the route to a document generated from the Nest controllers, in its place: just before /v1/feedback. */
export function documentOutcomesRoute(document: OpenAPIObject): OpenAPIObject {
  const paths: OpenAPIObject['paths'] = {};
  for (const [path, item] of Object.entries(document.paths)) {
    if (path === '/v1/feedback') paths[OUTCOMES_PATH] = { post: OUTCOMES_OPERATION };
    paths[path] = item;
  }
  paths[OUTCOMES_PATH] ??= { post: OUTCOMES_OPERATION };
  return { ...document, paths };
}
