import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { Logger } from 'pino';
import { ApiKeysService } from '../../libs/auth/api-keys.service';
import type { VerdictConfig } from '../../libs/config/config';
import { logContext, PinoNestLogger } from '../../libs/logging/logger';
import { OperatorMetrics } from '../../libs/observability/operator-metrics';
import { ApiModule } from './api.module';
import { assignRoute, documentAssignRoute } from './assignment/assign.route';
import { AssignDto, AssignmentResponse } from './assignment/assign.dto';
import { JSONL_TYPES } from './datasets/datasets.controller';
import { boundedJsonParser } from './http/bounded-json';
import { registerPlainRoutes } from './http/plain-route';
import { OutcomesDto } from './ingestion/outcome.dto';
import { documentOutcomesRoute, outcomesRoute } from './ingestion/outcomes.route';
import { createValidationPipe } from './http/validation';
import { documentGatewayRoutes, registerGatewayRoutes } from './gateway/gateway.route';

export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Verdict')
    .setDescription('A/B testing for AI model variants: experiments, assignment, outcomes, results.')
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key of scope admin or sdk' })
    .build();
  // POST /v1/assign and /v1/outcomes are plain Fastify routes (docs/adr/0012): documented beside the Nest routes.
  const document = SwaggerModule.createDocument(app, config, { extraModels: [AssignDto, AssignmentResponse, OutcomesDto] });
  return documentGatewayRoutes(documentOutcomesRoute(documentAssignRoute(document)));
}

/** Builds the API application (not listening yet): used by main, the tests and the OpenAPI writer. */
export async function createApiApp(config: VerdictConfig, logger: Logger): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // One line per request is written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.http.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    // Slow or idle clients cannot hold sockets (docs/adr/0017): time to send the headers, the
    // whole request, an idle socket (config streams write a heartbeat well within it), keep-alive.
    requestTimeout: config.http.requestTimeoutMs,
    connectionTimeout: config.http.connectionTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.http.headersTimeoutMs,
      requestTimeout: config.http.requestTimeoutMs,
      // How often Node looks for requests past those timeouts (its default, 30 s, would let them overstay).
      connectionsCheckingInterval: Math.min(5000, Math.max(100, Math.floor(config.http.headersTimeoutMs / 4))),
    },
    trustProxy: config.http.trustProxy,
  });
  const app = await NestFactory.create<NestFastifyApplication>(ApiModule.register(config), adapter, {
    logger: new PinoNestLogger(logger),
    bufferLogs: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  // Past it, Node closes new connections at once.
  app.getHttpServer().maxConnections = config.http.maxConnections;
  // Every JSON body of a Nest route goes through the depth check first (plain routes: plain-route.ts).
  app.useBodyParser('application/json', { bodyLimit: config.http.bodyLimitBytes }, boundedJsonParser(fastify, config.http.bodyMaxDepth));
  // Dataset uploads in JSON Lines arrive as text; libs/evaluation/dataset-upload.ts parses each line.
  app.useBodyParser(JSONL_TYPES, { bodyLimit: config.http.bodyLimitBytes }, (_request, body, done) => done(null, body.toString('utf8')));
  fastify.addHook('onRequest', (request, reply, done) => {
    // Every log line written while serving this request carries its id.
    logContext.enterWith({ requestId: String(request.id) });
    void reply.header('x-request-id', request.id);
    done();
  });
  const metrics = app.get(OperatorMetrics);
  fastify.addHook('onResponse', (request, reply, done) => {
    // By the matched route's pattern (`/v1/experiments/:key`), never the raw URL: bounded labels (docs/adr/0033).
    metrics.observeHttp(request.routeOptions.url, request.method, reply.statusCode, reply.elapsedTime / 1000);
    request.log.info(
      { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
    done();
  });
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), { jsonDocumentUrl: 'docs/openapi.json' });
  await app.get(ApiKeysService).bootstrap();
  await app.init();
  // After init (Nest's error handler is installed), before listen: see plain-route.ts.
  const assign = assignRoute(app);
  const outcomes = outcomesRoute(app);
  registerPlainRoutes(app, config.http.bodyMaxDepth, (scope) => {
    assign(scope);
    outcomes(scope);
  });
  // The OpenAI-compatible gateway: its own plugin (OpenAI error shape, its body limit): docs/gateway.md.
  registerGatewayRoutes(app, config);
  return app;
}
