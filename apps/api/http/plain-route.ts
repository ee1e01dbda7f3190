import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { boundedJsonParser } from './bounded-json';

/**
 * Registers routes that run on the Nest application's Fastify instance outside Nest's
 * per-request machinery (docs/adr/0012), in one encapsulated plugin: they inherit the
 * instance's hooks and Nest's error handler (so errors become problem+json like any other)
 * when Fastify loads the plugin, at ready. JSON bodies go to Fastify's own parser with the
 * instance's limit and poisoning options, read as a string (not through Nest's Buffer
 * wrapper), behind the same depth check as the Nest routes' (bounded-json.ts). Call after
 * `app.init()` and before `listen()`.
 */
export function registerPlainRoutes(app: NestFastifyApplication, maxDepth: number, routes: (scope: FastifyInstance) => void): void {
  const fastify = app.getHttpAdapter().getInstance();
  const { bodyLimit } = fastify.initialConfig;
  void fastify.register((scope, _options, done) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, boundedJsonParser(scope, maxDepth));
    routes(scope);
    done();
  });
}
