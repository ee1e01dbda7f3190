import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationFailedError } from '../../../libs/errors/domain-error';

/**
 * True when the JSON text nests arrays and objects deeper than `maxDepth`. One linear pass
 * that jumps over strings with indexOf, run before JSON.parse: a 100k-deep body would
 * otherwise cost a second of CPU in the parse and the transforms after it, and end in a
 * RangeError (a 500). Malformed text is left for JSON.parse to refuse.
 */
export function jsonNestsDeeperThan(text: string, maxDepth: number): boolean {
  // Every level needs at least one character: a shorter body cannot nest deeper.
  if (text.length <= maxDepth) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: jump to its closing quote (one preceded by an even number of backslashes).
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return false;
        let slash = end - 1;
        while (text.charCodeAt(slash) === 0x5c) slash--;
        if ((end - 1 - slash) % 2 === 0) break;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

type JsonParser = (request: FastifyRequest, body: string | Buffer, done: (error: Error | null, body?: unknown) => void) => void;

/**
 * Fastify's own JSON parser (with the instance's prototype-poisoning options) behind the
 * depth check: too deep a body is answered 400 naming `body`. Every JSON route uses it,
 * the Nest routes (through app.useBodyParser) and the plain Fastify ones (plain-route.ts).
 */
export function boundedJsonParser(fastify: FastifyInstance, maxDepth: number): JsonParser {
  const { onProtoPoisoning, onConstructorPoisoning } = fastify.initialConfig;
  const parse = fastify.getDefaultJsonParser(onProtoPoisoning ?? 'error', onConstructorPoisoning ?? 'error');
  return (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonNestsDeeperThan(text, maxDepth)) {
      done(new ValidationFailedError([{ field: 'body', message: `nests arrays and objects deeper than ${maxDepth} levels` }]));
      return;
    }
    parse(request, text, done);
  };
}
