import type { OutgoingHttpHeaders } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject, OperationObject } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyScope } from '../../../libs/auth/api-key.entity';
import type { Principal } from '../../../libs/auth/principal';
import { RequestAuthenticator } from '../../../libs/auth/request-authenticator';
import type { VerdictConfig } from '../../../libs/config/config';
import { DomainError } from '../../../libs/errors/domain-error';
import { GatewayService, writeError } from '../../../libs/gateway/gateway.service';
import { errorTypeOf, GatewayError } from '../../../libs/gateway/openai-error';
import type { GatewayEndpoint } from '../../../libs/gateway/stream-meter';
import { boundedJsonParser } from '../http/bounded-json';

const SDK_SCOPES: readonly ApiKeyScope[] = ['sdk'];
const ADMIN_SCOPES: readonly ApiKeyScope[] = ['admin'];

export const GATEWAY_ROUTES: ReadonlyArray<[string, GatewayEndpoint]> = [
  ['/v1/chat/completions', 'chat'],
  ['/v1/completions', 'completions'],
  ['/v1/embeddings', 'embeddings'],
  ['/v1/responses', 'responses'],
];

/** Any error of a gateway route as the OpenAI error shape (Fastify's bad JSON, 413, 415; auth and rate limits; the rest). */
function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof DomainError) {
    const field = error.errors?.[0];
    const message = field ? `${error.message} ${field.field}: ${field.message}` : error.message;
    return new GatewayError(error.status, message, errorTypeOf(error.status), error.code, field?.field ?? null, error.headers ?? {});
  }
  const fastify = error as { statusCode?: number; code?: string; message?: string };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const message =
      fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'The request body is too large for the gateway (GATEWAY_BODY_LIMIT_BYTES).'
        : fastify.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'Send the body as application/json.'
          : fastify.statusCode === 400
            ? `The body is not valid JSON: ${fastify.message ?? ''}`
            : (fastify.message ?? 'Bad request');
    return new GatewayError(fastify.statusCode, message, errorTypeOf(fastify.statusCode), fastify.code ?? null, 'body');
  }
  return new GatewayError(502, 'The gateway could not complete the call.', 'upstream_error', 'gateway_error');
}

/**
 * The OpenAI-compatible gateway routes (docs/gateway.md): POST /v1/chat/completions,
 * /v1/completions, /v1/embeddings, /v1/responses and GET /v1/models, as plain Fastify routes
 * (like /v1/assign, docs/adr/0012) in their own encapsulated plugin, so that every error,
 * Fastify's included, is answered in the OpenAI error shape rather than problem+json, and
 * bodies may be as large as GATEWAY_BODY_LIMIT_BYTES. Keys of scope `sdk`. The answer is
 * written by GatewayService on the raw response (reply.hijack()): the instance's hooks still
 * ran (x-request-id, log context) and its onResponse log line still runs.
 */
export function registerGatewayRoutes(app: NestFastifyApplication, config: VerdictConfig): void {
  const fastify = app.getHttpAdapter().getInstance();
  const authenticator = app.get(RequestAuthenticator);
  const gateway = app.get(GatewayService);
  const limit = config.gateway.bodyLimitBytes;
  void fastify.register((scope: FastifyInstance, _options, done) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: limit }, boundedJsonParser(scope, config.http.bodyMaxDepth));
    scope.setErrorHandler((error, request, reply) => {
      const gatewayError = toGatewayError(error);
      if (gatewayError.status >= 500) request.log.error({ err: error }, 'gateway route failed');
      void reply.hijack();
      writeError(reply.raw, reply.getHeaders() as OutgoingHttpHeaders, gatewayError);
    });
    const serve = (endpoint: GatewayEndpoint) => (request: FastifyRequest, reply: FastifyReply) => {
      const go = (principal: Principal) => {
        void reply.hijack();
        return gateway.serve(principal.projectId, endpoint, request.body, request.headers, reply.raw, reply.getHeaders() as OutgoingHttpHeaders);
      };
      const principal = authenticator.authorize(request.headers.authorization, SDK_SCOPES, request.ip);
      return principal instanceof Promise ? principal.then(go) : go(principal);
    };
    for (const [path, endpoint] of GATEWAY_ROUTES) scope.post(path, { bodyLimit: limit }, serve(endpoint));
    scope.get('/v1/models', async (request) => {
      const principal = await authenticator.authorize(request.headers.authorization, SDK_SCOPES, request.ip);
      return gateway.models(principal.projectId);
    });
    scope.get('/v1/gateway/upstreams', async (request) => {
      const principal = await authenticator.authorize(request.headers.authorization, ADMIN_SCOPES, request.ip);
      return { instances: gateway.upstreams(principal.projectId) };
    });
    done();
  });
}

const errorResponses: OperationObject['responses'] = {
  '400': { description: 'Bad input (malformed JSON, no model, no unit for a user- or session-unit experiment), OpenAI error shape.' },
  '401': { description: 'No or unknown key.' },
  '404': { description: 'The model is not an experiment of this project that has upstreams.' },
  '413': { description: 'Body larger than GATEWAY_BODY_LIMIT_BYTES.' },
  '429': { description: 'Rate limit of the key, or too many calls in flight; Retry-After.' },
  '502': { description: 'The upstream could not be reached, broke off, or answered something that is not JSON.' },
  '504': { description: "The upstream did not answer within its timeoutMs." },
};

function gatewayOperation(summary: string, operationId: string): OperationObject {
  return {
    operationId,
    summary,
    description:
      'OpenAI-compatible. `model` is the experiment key; the unit is the x-verdict-unit header, else the body\'s `user`. ' +
      'The body is forwarded to the variant\'s upstream; the answer comes back as the upstream sent it (SSE when `stream` is true), ' +
      'with x-verdict-experiment, x-verdict-variant and x-verdict-event-id. docs/gateway.md.',
    parameters: [{ name: 'x-verdict-unit', in: 'header', required: false, schema: { type: 'string' } }],
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['model'], properties: { model: { type: 'string' } } } } } },
    responses: {
      '200': { description: 'The upstream\'s answer (JSON, or text/event-stream when streaming).' },
      ...errorResponses,
    },
    security: [{ bearer: [] }],
    tags: ['gateway'],
  };
}

/** Adds the gateway routes to the OpenAPI document (they are plain Fastify routes). */
export function documentGatewayRoutes(document: OpenAPIObject): OpenAPIObject {
  const paths: OpenAPIObject['paths'] = { ...document.paths };
  paths['/v1/chat/completions'] = { post: gatewayOperation('Chat completion through the experiment\'s variant (streaming or not)', 'Gateway_chatCompletions') };
  paths['/v1/completions'] = { post: gatewayOperation('Text completion through the experiment\'s variant', 'Gateway_completions') };
  paths['/v1/embeddings'] = { post: gatewayOperation('Embeddings through the experiment\'s variant', 'Gateway_embeddings') };
  paths['/v1/responses'] = { post: gatewayOperation('Responses API call through the experiment\'s variant', 'Gateway_responses') };
  paths['/v1/models'] = {
    get: {
      operationId: 'Gateway_models',
      summary: 'The experiments this key may call through the gateway, as OpenAI models',
      parameters: [],
      responses: { '200': { description: '{object: "list", data: [{id, object: "model", created, owned_by}]}' }, '401': { description: 'No or unknown key.' } },
      security: [{ bearer: [] }],
      tags: ['gateway'],
    },
  };
  paths['/v1/gateway/upstreams'] = {
    get: {
      operationId: 'Gateway_upstreams',
      summary: "The state of every instance of the project's variant upstreams on this replica (admin)",
      description: 'instances: [{experiment, variant, baseUrl, inFlight, latencyMs, latencyP50Ms, latencyP95Ms, errorRate, calls, cooledUntil, coolDowns, coolDownsTotal}]; health (passive, and probes when set) as seen by the replica that answers (docs/gateway.md, "Pools").',
      parameters: [],
      responses: { '200': { description: '{instances: [...]}' }, '401': { description: 'No or unknown key.' }, '403': { description: 'Not an admin key.' } },
      security: [{ bearer: [] }],
      tags: ['gateway'],
    },
  };
  return { ...document, paths };
}
