import { AsyncLocalStorage } from 'node:async_hooks';
import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { censorFields, redactKeyMaterial, redactText, redactUrl, serializeError } from './redaction';

/** The request id (API) or job id (worker) of the work in progress, added to every log line. */
export const logContext = new AsyncLocalStorage<Record<string, string>>();

/** Fields with a serializer of their own: censorFields leaves them to it. */
const SERIALIZED = new Set(['err', 'error', 'req', 'res']);

interface RequestLike {
  method?: string;
  url?: string;
  ip?: string;
}

/**
 * The process's logger: JSON lines, the request or job id on every line, and no secret in
 * any of them (docs/adr/0018). Secret fields are redacted at any depth, URLs lose their
 * credentials and query values, errors are logged without query parameters, and a last
 * pass over each finished line removes anything shaped like key material. `destination`
 * defaults to stdout: human-readable (pino-pretty, after the same redaction) when stdout is
 * a terminal, JSON lines otherwise; tests pass a stream to read the lines.
 */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    // A copy: pino merges each line's fields into what mixin returns, which would make every
    // field logged once (an err, a url) stick to the rest of the request's lines.
    mixin: () => ({ ...logContext.getStore() }),
    formatters: { log: (fields) => censorFields(fields, SERIALIZED) },
    serializers: {
      err: serializeError,
      error: serializeError,
      // Fastify's request serializer would write the URL with its query string (page tokens).
      req: (req: RequestLike) => ({ method: req.method, url: typeof req.url === 'string' ? redactUrl(req.url) : undefined, remoteAddress: req.ip }),
    },
    hooks: {
      // Given an error and no message, pino writes the error's raw message as the line's msg.
      logMethod(args, method) {
        const first = args[0] as unknown;
        if (args[1] === undefined && first !== null && typeof first === 'object') {
          const err = first instanceof Error ? first : (first as { err?: unknown }).err;
          const serialized = serializeError(err) as { message?: unknown };
          if (serialized !== err && typeof serialized?.message === 'string') return method.call(this, first as object, serialized.message);
        }
        return method.apply(this, args);
      },
      streamWrite: redactKeyMaterial,
    },
  };
  if (destination) return pino(options, destination);
  return process.stdout.isTTY ? pino(options, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })) : pino(options);
}

/** Nest's LoggerService on top of pino, so framework and application lines share one format. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, rest: unknown[]): void {
    // Nest passes the context (class name) last; an object first is structured data.
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const text = typeof rest[0] === 'string' ? redactText(rest[0]) : undefined;
    if (message instanceof Error) {
      this.logger[level]({ context, err: message }, text);
    } else if (message !== null && typeof message === 'object') {
      this.logger[level]({ context, ...(message as object) }, text);
    } else {
      // Nest and libraries log strings (and an error's stack after them) that we do not write: scrub them.
      const stack = level === 'error' ? text : undefined;
      this.logger[level]({ context, ...(stack ? { stack } : {}) }, redactText(String(message)));
    }
  }
}
