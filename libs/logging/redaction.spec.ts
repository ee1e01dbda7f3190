import { QueryFailedError } from 'typeorm';
import {
  censorFields,
  pathOnly,
  REDACTED,
  redactErrorInPlace,
  redactKeyMaterial,
  redactText,
  redactUrl,
  scrubDatabaseText,
  serializeError,
} from './redaction';
import { CALL_EXPORT_OF_MODULE, runInWorker } from '../../test/support/in-worker';

const KEY = 'vk_admin_Q2hhbmdlIHRoaXMga2V5IHRvIHNvbWV0aGluZyBy';
const HASH = 'a'.repeat(20) + '0123456789abcdef'.repeat(2) + 'b'.repeat(12);
const TOKEN = 'eyJwIjoiMDAwMDAwMDAtMDAwMC0wMDAwIiwiayI6ImsiLCJlIjoxfQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';

/** pg's DatabaseError as the driver raises it. */
function pgError(message: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name: 'error', severity: 'ERROR', code: '22P02', routine: 'string_to_uuid', ...fields });
}

describe('redactUrl and pathOnly', () => {
  it('redacts every query value except the plain paging and filter ones', () => {
    expect(redactUrl(`/experiments/chat?token=${TOKEN}`)).toBe(`/experiments/chat?token=${REDACTED}`);
    expect(redactUrl('/v1/experiments?limit=10&offset=20&status=running&apiKey=abc&foo=')).toBe(
      `/v1/experiments?limit=10&offset=20&status=running&apiKey=${REDACTED}&foo=`,
    );
    expect(redactUrl('/v1/experiments?LIMIT=5&Secret=x')).toBe(`/v1/experiments?LIMIT=5&Secret=${REDACTED}`);
  });

  it('leaves a URL without query, credentials or keys as it is', () => {
    const url = '/v1/assign';
    expect(redactUrl(url)).toBe(url);
  });

  it('removes the credentials of any URL', () => {
    expect(redactUrl('smtp://reports:s3cr3t-pass@mail.example.com:587')).toBe(`smtp://${REDACTED}@mail.example.com:587`);
    expect(redactUrl('https://ghp_token@example.com/hook')).toBe(`https://${REDACTED}@example.com/hook`);
  });

  it('keeps only the path for an error body', () => {
    expect(pathOnly(`/experiments/chat?token=${TOKEN}`)).toBe('/experiments/chat');
    expect(pathOnly('/v1/experiments')).toBe('/v1/experiments');
  });
});

describe('redactText', () => {
  it('removes Bearer values, API keys, key hashes, signed tokens and URL passwords from free text', () => {
    const text = `Authorization: Bearer ${KEY}; key ${KEY} hash ${HASH} link https://verdict/experiments/x?token=${TOKEN} via smtp://u:pw@h`;
    const out = redactText(text);
    for (const secret of [KEY, HASH, TOKEN, 'pw@']) expect(out).not.toContain(secret);
    expect(out).toContain('Authorization: Bearer [redacted]');
    expect(out).toContain('smtp://[redacted]@h');
  });

  it('is idempotent', () => {
    const once = redactText(`Bearer ${KEY} ?token=${TOKEN}`);
    expect(redactText(once)).toBe(once);
  });
});

describe('scrubDatabaseText', () => {
  it('keeps the identifiers Postgres quotes and redacts the values', () => {
    expect(scrubDatabaseText('duplicate key value violates unique constraint "api_key_hash_key"')).toBe(
      'duplicate key value violates unique constraint "api_key_hash_key"',
    );
    expect(scrubDatabaseText('invalid byte sequence for encoding "UTF8": 0x00')).toBe('invalid byte sequence for encoding "UTF8": 0x00');
    expect(scrubDatabaseText('invalid input syntax for type uuid: "whsec_abc"')).toBe(`invalid input syntax for type uuid: "${REDACTED}"`);
    expect(scrubDatabaseText('invalid input syntax for type uuid: "a"b"')).toBe(`invalid input syntax for type uuid: "${REDACTED}"`);
    expect(scrubDatabaseText('value "99999999999" is out of range for type integer')).toBe(`value "${REDACTED}" is out of range for type integer`);
    expect(scrubDatabaseText('time zone "Mars/Olympus" not recognized')).toBe(`time zone "${REDACTED}" not recognized`);
  });

  it('redacts anything that came from a parameter, quoted or not', () => {
    expect(scrubDatabaseText('relation "hunter2secret" does not exist; near hunter2secret', ['hunter2secret'])).toBe(
      `relation "${REDACTED}" does not exist; near ${REDACTED}`,
    );
  });
});

describe('serializeError', () => {
  it("logs a failed query's SQLSTATE and message, never its parameters, SQL or Postgres detail", () => {
    const driver = pgError('invalid input syntax for type uuid: "whsec-in-clear-0123"', {
      detail: 'Key (secret)=(whsec-in-clear-0123) already exists.',
      where: "unnamed portal parameter $1 = '...'",
    });
    const error = new QueryFailedError('SELECT * FROM project_webhook WHERE secret = $1 AND key_hash = $2', ['whsec-in-clear-0123', HASH], driver);
    const out = serializeError(error) as Record<string, unknown>;
    const text = JSON.stringify(out);
    expect(text).not.toContain('whsec-in-clear-0123');
    expect(text).not.toContain(HASH);
    expect(text).not.toContain('SELECT');
    expect(out).toMatchObject({ type: 'QueryFailedError', code: '22P02', parameterCount: 2, message: `invalid input syntax for type uuid: "${REDACTED}"` });
    expect(out).not.toHaveProperty('detail');
    expect(out).not.toHaveProperty('where');
    expect(out).not.toHaveProperty('driverError');
  });

  it('keeps primitive fields and causes, drops objects and raw packets', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED', port: 25 });
    const error = Object.assign(new Error('send failed', { cause }), {
      responseCode: 451,
      config: { headers: { authorization: `Bearer ${KEY}` } },
      rawPacket: Buffer.from(`GET / HTTP/1.1\r\nAuthorization: Bearer ${KEY}\r\n`),
      password: 'pw',
    });
    const out = serializeError(error) as Record<string, any>;
    expect(out).toMatchObject({ type: 'Error', message: 'send failed', responseCode: 451, cause: { code: 'ECONNREFUSED', port: 25 } });
    expect(out).not.toHaveProperty('config');
    expect(out).not.toHaveProperty('rawPacket');
    expect(out).not.toHaveProperty('password');
    expect(JSON.stringify(out)).not.toContain(KEY);
  });

  it('returns what is not an error unchanged', () => {
    expect(serializeError('plain')).toBe('plain');
    expect(serializeError(undefined)).toBeUndefined();
  });
});

describe('redactErrorInPlace', () => {
  it('scrubs message and stack and keeps the error and its class', () => {
    class Unrecoverable extends Error {}
    const error = new Unrecoverable(`webhook https://user:pw@example.com/x?token=${TOKEN} failed`);
    expect(redactErrorInPlace(error)).toBe(error);
    expect(error).toBeInstanceOf(Unrecoverable);
    expect(error.message).toBe(`webhook https://${REDACTED}@example.com/x?token=${REDACTED} failed`);
    expect(error.stack).not.toContain(TOKEN);
  });

  it('scrubs the values a failed query quotes', () => {
    const error = new QueryFailedError('SELECT $1::uuid', ['poison-0123'], pgError('invalid input syntax for type uuid: "poison-0123"'));
    redactErrorInPlace(error);
    expect(error.message).toBe(`invalid input syntax for type uuid: "${REDACTED}"`);
  });
});

describe('censorFields', () => {
  it('redacts secret fields at any depth, URL fields, buffers and errors', () => {
    class ApiKeyRow {
      id = 'k1';
      keyHash = HASH;
    }
    const fields = {
      requestId: 'r1',
      req: { headers: { authorization: `Bearer ${KEY}`, cookie: 'sid=1', accept: 'json' } },
      err_config: { a: { b: { headers: { Authorization: 'x' } } } },
      webhook: { url: `https://h/x?token=${TOKEN}`, secret: 'whsec' },
      smtpUrl: 'smtp://u:pw@h',
      row: new ApiKeyRow(),
      rows: [{ password: 'p' }],
      packet: Buffer.from('secret bytes'),
      nested: { error: new QueryFailedError('SELECT $1', ['hunter2secret'], pgError('bad "hunter2secret"')) },
    };
    const out = censorFields(fields);
    const text = JSON.stringify(out);
    for (const secret of [KEY, HASH, TOKEN, 'sid=1', 'whsec', 'pw@', 'hunter2secret', 'secret bytes', '"p"']) expect(text).not.toContain(secret);
    expect(out).toMatchObject({ requestId: 'r1', req: { headers: { accept: 'json' } }, row: { id: 'k1' }, packet: '[12 bytes]' });
    // The caller's object is left untouched.
    expect(fields.req.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('returns the same object when there is nothing to censor', () => {
    const line = { method: 'POST', url: '/v1/assign', status: 200, ms: 1 };
    expect(censorFields(line)).toBe(line);
  });

  it('bounds the walk', () => {
    let deep: Record<string, unknown> = { password: 'deepest' };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    expect(JSON.stringify(censorFields({ deep }))).not.toContain('deepest');
  });
});

describe('redactKeyMaterial', () => {
  it('removes key material from a finished JSON line and keeps it valid JSON', () => {
    const line = JSON.stringify({ msg: `Bearer ${KEY} "quoted" \\ ${TOKEN}`, url: 'redis://:pw@h:6379/0', k: KEY }) + '\n';
    const out = redactKeyMaterial(line);
    for (const secret of [KEY, TOKEN, ':pw@']) expect(out).not.toContain(secret);
    expect(() => JSON.parse(out)).not.toThrow();
  });
});

// Every function here runs on text that a client can make long (a URL, a rejected value that
// Postgres quotes). Each once had a pattern that rescanned the rest of the text from every
// start: seconds on tens of KB, minutes on these. The worker stops a quadratic scan at the
// deadline, so a regression fails instead of hanging; a linear scan takes milliseconds.
describe('linear time on hostile text', () => {
  const inWorker = (exportName: string, input: string) =>
    runInWorker<string>(CALL_EXPORT_OF_MODULE, { modulePath: require.resolve('./redaction.ts'), exportName, input });

  it.each([
    ['redactText', 'a.'.repeat(100_000) + 'a'],
    ['redactText', 'eyJ-'.repeat(60_000)],
    ['redactKeyMaterial', 'eyJ-'.repeat(60_000)],
    ['redactKeyMaterial', 'vk_ ' + 'a+'.repeat(100_000)],
    ['scrubDatabaseText', '\r:"\u0000\r'.repeat(50_000)],
    ['scrubDatabaseText', 'value\t"'.repeat(50_000) + '\n'],
    ['scrubDatabaseText', ':'.repeat(200_000) + '"x"'],
  ])('%s on %#', async (exportName, input) => {
    const out = await inWorker(exportName, input);
    expect(typeof out).toBe('string');
    // The same function on the same text in this thread agrees with the worker's.
    expect(({ redactText, redactKeyMaterial, scrubDatabaseText } as Record<string, (s: string) => string>)[exportName](input)).toBe(out);
  }, 60_000);

  it('still redacts what follows hostile text', async () => {
    const tail = ` postgres://app:hunter2@db/x Bearer ${KEY} ${TOKEN}`;
    const out = await inWorker('redactText', 'a.'.repeat(50_000) + tail);
    for (const secret of ['hunter2', KEY, TOKEN]) expect(out).not.toContain(secret);
    expect(scrubDatabaseText(`invalid input syntax for type uuid: ${':'.repeat(1000)}"${'x'.repeat(10)}"`)).toMatch(/[^x]:"\[redacted\]"$/);
  }, 60_000);
});
