import { QueryFailedError } from 'typeorm';
import { createLogger, logContext, PinoNestLogger } from './logger';

const SECRET = 'whsec-never-in-a-log-0123456789';
const KEY = 'vk_sdk_Q2hhbmdlIHRoaXMga2V5IHRvIHNvbWV0aGluZyBy';

function capture() {
  const lines: string[] = [];
  const logger = createLogger('trace', 'spec', { write: (line: string) => void lines.push(line) });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

function failedQuery(): QueryFailedError {
  const driver = Object.assign(new Error(`invalid input syntax for type uuid: "${SECRET}"`), { name: 'error', severity: 'ERROR', code: '22P02' });
  return new QueryFailedError('SELECT 1 FROM project_webhook WHERE project_id = $1', [SECRET], driver);
}

describe('createLogger', () => {
  it("writes an error given alone (pino would use its raw message as msg) without the failed query's values", () => {
    const { logger, lines, parsed } = capture();
    logger.error(failedQuery());
    logger.warn({ err: failedQuery() });
    expect(lines.join('')).not.toContain(SECRET);
    expect(parsed().map((l) => l.msg)).toEqual(['invalid input syntax for type uuid: "[redacted]"', 'invalid input syntax for type uuid: "[redacted]"']);
    expect(parsed()[0].err).toMatchObject({ type: 'QueryFailedError', code: '22P02', parameterCount: 1 });
  });

  it('redacts request URLs, headers and keys, and keeps the request id', () => {
    const { logger, lines, parsed } = capture();
    logContext.run({ requestId: 'req-1' }, () => {
      logger.info({ method: 'GET', url: '/experiments/x?token=abc.def', status: 401 }, 'request');
      logger.info({ req: { method: 'GET', url: '/experiments/x?token=abc.def', ip: '127.0.0.1' } }, 'incoming');
      logger.debug({ headers: { authorization: `Bearer ${KEY}` }, apiKey: KEY }, 'headers');
      logger.info(`unexpected text with ${KEY}`);
    });
    expect(lines.join('')).not.toContain(KEY);
    expect(lines.join('')).not.toContain('abc.def');
    const [request, incoming] = parsed();
    expect(request).toMatchObject({ requestId: 'req-1', url: '/experiments/x?token=[redacted]', status: 401 });
    expect(incoming.req).toEqual({ method: 'GET', url: '/experiments/x?token=[redacted]', remoteAddress: '127.0.0.1' });
  });
});

describe('the request or job context', () => {
  it('is on every line of the work, and one line\'s fields never stick to the next', () => {
    const { logger, parsed } = capture();
    logContext.run({ jobId: 'job-1' }, () => {
      logger.warn({ err: new Error('boom'), attempt: 1 }, 'failed once');
      logger.info('done');
    });
    const [failed, done] = parsed();
    expect(failed).toMatchObject({ jobId: 'job-1', attempt: 1, err: { message: 'boom' } });
    expect(done).toMatchObject({ jobId: 'job-1', msg: 'done' });
    expect(done).not.toHaveProperty('err');
    expect(done).not.toHaveProperty('attempt');
  });
});

describe('PinoNestLogger', () => {
  it("logs an Error passed as Nest's message as err, and scrubs the strings Nest and libraries pass", () => {
    const { logger, lines, parsed } = capture();
    const nest = new PinoNestLogger(logger);
    nest.error(failedQuery(), 'ProblemFilter');
    nest.error(`Unable to connect to redis://:${SECRET}@127.0.0.1:6379`, `Error: stack with Bearer ${KEY}`, 'Redis');
    nest.log({ projectId: 'p1', secret: SECRET }, 'structured', 'ApiKeysService');
    expect(lines.join('')).not.toContain(SECRET);
    expect(lines.join('')).not.toContain(KEY);
    const [error, text, structured] = parsed();
    expect(error).toMatchObject({ context: 'ProblemFilter', err: { type: 'QueryFailedError', parameterCount: 1 } });
    expect(text).toMatchObject({ context: 'Redis', msg: 'Unable to connect to redis://[redacted]@127.0.0.1:6379', stack: 'Error: stack with Bearer [redacted]' });
    expect(structured).toMatchObject({ context: 'ApiKeysService', projectId: 'p1', secret: '[redacted]', msg: 'structured' });
  });
});
