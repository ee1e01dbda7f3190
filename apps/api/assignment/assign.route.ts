import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject, OperationObject } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import { AssignmentService } from '../../../libs/assignment/assignment.service';
import type { Assignment } from '../../../libs/assignment/core/snapshot';
import type { ApiKeyScope } from '../../../libs/auth/api-key.entity';
import type { Principal } from '../../../libs/auth/principal';
import { RequestAuthenticator } from '../../../libs/auth/request-authenticator';
import { parseAssignRequest } from './assign-request';

export const ASSIGN_PATH = '/v1/assign';
const SDK_SCOPES: readonly ApiKeyScope[] = ['sdk'];

/**
 * POST /v1/assign, the hottest route, as a plain Fastify route on the API's own Fastify
 * instance, beside the Nest routes (docs/adr/0012). It does what the Nest route of scope
 * `sdk` did, in the same order, without Nest's per-request machinery (execution context,
 * guards consumer, pipes, interceptors, promise chain):
 * - the instance's hooks run as for every route (request id header, log context, the
 *   request log line, Nest's adapter hooks);
 * - the body is parsed by Fastify's own JSON parser (the one Nest wraps for its routes,
 *   with the same limit and poisoning options, minus the wrapper's Buffer round trip);
 * - RequestAuthenticator checks the key, the scope and the rate limit, as the AuthGuard
 *   does for Nest routes (same buckets); synchronously when the key is in memory;
 * - the hand-written body checks of the Nest route (same fields and messages);
 * - errors are thrown to Fastify, whose error handler is Nest's: the global ProblemFilter
 *   answers them as problem+json, as for any route (malformed JSON included).
 * Registered with registerPlainRoutes (apps/api/http/plain-route.ts).
 */
export function assignRoute(app: NestFastifyApplication): (scope: FastifyInstance) => void {
  const authenticator = app.get(RequestAuthenticator);
  const assignment = app.get(AssignmentService);
  const answer = (principal: Principal, body: unknown): Assignment => assignment.assign(principal.projectId, parseAssignRequest(body));
  return (scope) => {
    scope.post(ASSIGN_PATH, (request) => {
      const principal = authenticator.authorize(request.headers.authorization, SDK_SCOPES, request.ip);
      if (principal instanceof Promise) return principal.then((p) => answer(p, request.body));
      return answer(principal, request.body);
    });
  };
}

/** How OpenAPI describes the route: what `@nestjs/swagger` generated for it when it was a Nest route. */
const ASSIGN_OPERATION: OperationObject = {
  operationId: 'AssignmentController_assign',
  parameters: [],
  requestBody: {
    required: true,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/AssignDto' } } },
  },
  responses: {
    '200': {
      description: '',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/AssignmentResponse' } } },
    },
  },
  security: [{ bearer: [] }],
  summary: 'Assign a unit to a variant (answered from memory)',
  tags: ['assignment'],
};

/**
 * Adds the route to a document generated from the Nest controllers (which no longer
 * declare it), in its place: just before /v1/assign/batch. Its schemas (AssignDto,
 * AssignmentResponse) are generated from the DTO classes, passed as extra models.
 */
export function documentAssignRoute(document: OpenAPIObject): OpenAPIObject {
  const paths: OpenAPIObject['paths'] = {};
  for (const [path, item] of Object.entries(document.paths)) {
    if (path === `${ASSIGN_PATH}/batch`) paths[ASSIGN_PATH] = { post: ASSIGN_OPERATION };
    paths[path] = item;
  }
  paths[ASSIGN_PATH] ??= { post: ASSIGN_OPERATION };
  return { ...document, paths };
}
