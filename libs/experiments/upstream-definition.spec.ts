import { credentialEnvIssue } from '../config/config';
import type { FieldError } from '../errors/domain-error';
import { runInWorker } from '../../test/support/in-worker';
import { SECRET_VALUES, checkNoLiteralSecrets, checkUpstream } from './upstream-definition';

const anyEnv = (name: string) => credentialEnvIssue(name, ['*_API_KEY']);
const check = (input: unknown, envIssue: (name: string) => string | null = anyEnv) => {
  const errors: FieldError[] = [];
  const upstream = checkUpstream(input, 'upstream', errors, envIssue);
  return { upstream, errors };
};

describe('checkUpstream', () => {
  it('fills in the defaults and trims the base URL', () => {
    const { upstream, errors } = check({ baseUrl: 'https://llm.example.com/v1/', model: 'llama-8b', apiKeyEnv: 'OPENAI_API_KEY' });
    expect(errors).toEqual([]);
    expect(upstream).toEqual({
      instances: [{ baseUrl: 'https://llm.example.com/v1', weight: 1, model: null, apiKeyEnv: null }],
      model: 'llama-8b',
      apiKeyEnv: 'OPENAI_API_KEY',
      params: {},
      systemPromptPrefix: null,
      headers: {},
      includeUsage: true,
      timeoutMs: 60_000,
      totalTimeoutMs: 600_000,
      balance: 'least_in_flight',
      health: { failures: 3, windowMs: 10_000, coolDownMs: 1_000, maxCoolDownMs: 60_000 },
      whenDown: 'error',
    });
  });

  it('takes balance peak_ewma with its decay time, 10 s by default', () => {
    expect(check({ baseUrl: 'https://x.example.com', model: 'm', balance: 'peak_ewma' }).upstream).toMatchObject({ balance: 'peak_ewma', balanceOptions: { tauMs: 10_000 } });
    const { upstream, errors } = check({ baseUrl: 'https://x.example.com', model: 'm', balance: 'peak_ewma', balanceOptions: { tauMs: 2500 } });
    expect(errors).toEqual([]);
    expect(upstream).toMatchObject({ balance: 'peak_ewma', balanceOptions: { tauMs: 2500 } });
  });

  it('takes instances with weights and their own model names', () => {
    const { upstream, errors } = check({ instances: [{ baseUrl: 'https://a.example.com/v1', weight: 3, model: 'm-a' }, { baseUrl: 'https://b.example.com/v1' }], model: 'm' });
    expect(errors).toEqual([]);
    expect(upstream!.instances).toEqual([
      { baseUrl: 'https://a.example.com/v1', weight: 3, model: 'm-a', apiKeyEnv: null },
      { baseUrl: 'https://b.example.com/v1', weight: 1, model: null, apiKeyEnv: null },
    ]);
  });

  it.each([
    [{ model: 'm' }, 'upstream.baseUrl'],
    [{ baseUrl: 'https://x.example.com', instances: [{ baseUrl: 'https://y.example.com' }], model: 'm' }, 'upstream'],
    [{ baseUrl: 'ftp://x.example.com', model: 'm' }, 'upstream.baseUrl'],
    [{ baseUrl: 'https://user:pw@x.example.com', model: 'm' }, 'upstream.baseUrl'],
    [{ baseUrl: 'https://x.example.com/v1?key=abc', model: 'm' }, 'upstream.baseUrl'],
    [{ baseUrl: 'https://x.example.com' }, 'upstream.model'],
    [{ baseUrl: 'https://x.example.com', model: 'm', apiKey: 'x' }, 'upstream.apiKey'],
    [{ baseUrl: 'https://x.example.com', model: 'm', headers: { Authorization: 'Bearer abc' } }, 'upstream.headers.Authorization'],
    [{ baseUrl: 'https://x.example.com', model: 'm', headers: { 'x-api-key': 'abc' } }, 'upstream.headers.x-api-key'],
    [{ baseUrl: 'https://x.example.com', model: 'm', headers: { 'x-team': 'a\r\nb' } }, 'upstream.headers.x-team'],
    [{ baseUrl: 'https://x.example.com', model: 'm', params: { stream: false } }, 'upstream.params.stream'],
    [{ baseUrl: 'https://x.example.com', model: 'm', params: { temperature: {} } }, 'upstream.params.temperature'],
    [{ baseUrl: 'https://x.example.com', model: 'm', timeoutMs: 5 }, 'upstream.timeoutMs'],
    [{ baseUrl: 'https://x.example.com', model: 'm', timeoutMs: 10_000, totalTimeoutMs: 5_000 }, 'upstream.totalTimeoutMs'],
    [{ baseUrl: 'https://x.example.com', model: 'm', includeUsage: 'yes' }, 'upstream.includeUsage'],
    [{ baseUrl: 'https://x.example.com', model: 'm', balance: 'fastest' }, 'upstream.balance'],
    [{ baseUrl: 'https://x.example.com', model: 'm', balance: 'peak_ewma', balanceOptions: { tauMs: 50 } }, 'upstream.balanceOptions.tauMs'],
    [{ baseUrl: 'https://x.example.com', model: 'm', balance: 'peak_ewma', balanceOptions: { tauMs: 1.5e3 + 0.5 } }, 'upstream.balanceOptions.tauMs'],
    [{ baseUrl: 'https://x.example.com', model: 'm', balance: 'peak_ewma', balanceOptions: { decay: 1 } }, 'upstream.balanceOptions.decay'],
    [{ baseUrl: 'https://x.example.com', model: 'm', balance: 'peak_ewma', balanceOptions: 3 }, 'upstream.balanceOptions'],
    [{ baseUrl: 'https://x.example.com', model: 'm', balanceOptions: { tauMs: 5000 } }, 'upstream.balanceOptions'],
    [{ baseUrl: 'https://x.example.com', model: 'm', apiKeyEnv: 'not a name' }, 'upstream.apiKeyEnv'],
    [{ baseUrl: 'https://x.example.com', model: 'm', params: { api_key: 'sk-proj-abcdefghijklmnopqrstuvwxyz' } }, 'upstream.params.api_key'],
    [{ baseUrl: 'https://x.example.com', model: 'm', headers: { 'x-team': 'sk-ant-abcdefghijklmnopqrstuvwxyz' } }, 'upstream.headers.x-team'],
  ])('refuses %j naming %s', (input, field) => {
    const { upstream, errors } = check(input);
    expect(upstream).toBeNull();
    expect(errors.map((e) => e.field)).toContain(field);
  });

  it("refuses credentials named outside the operator's allowlist, and Verdict's own settings whatever the allowlist", () => {
    const field = (apiKeyEnv: string, allowed: string[]) =>
      check({ baseUrl: 'https://x.example.com', model: 'm', apiKeyEnv }, (name) => credentialEnvIssue(name, allowed)).errors.map((e) => e.message);
    expect(field('AWS_SECRET_ACCESS_KEY', ['*_API_KEY'])).toEqual([expect.stringMatching(/not allowed by the operator's GATEWAY_CREDENTIAL_ENVS/)]);
    expect(field('DATABASE_URL', ['DATABASE_*'])).toEqual(["names one of Verdict's own settings"]);
    expect(field('VERDICT_ADMIN_KEY', ['VERDICT_*'])).toEqual(["names one of Verdict's own settings"]);
    expect(field('LLM_TOKEN', ['LLM_*'])).toEqual([]);
  });
});

describe('checkNoLiteralSecrets', () => {
  const secrets = (value: unknown) => {
    const errors: FieldError[] = [];
    checkNoLiteralSecrets(value, 'config', errors);
    return errors.map((e) => e.field);
  };

  it('finds credential-shaped strings and credential-named fields at any depth', () => {
    expect(secrets({ provider: 'openai', auth: { apiKey: 'whatever' } })).toEqual(['config.auth.apiKey']);
    expect(secrets({ headers: ['Bearer abcdefghijkl'] })).toEqual(['config.headers.0']);
    expect(secrets({ note: 'AKIAABCDEFGHIJKLMNOP' })).toEqual(['config.note']);
    expect(secrets({ url: 'postgres://app:hunter2@db/x' })).toEqual(['config.url']);
    expect(secrets({ client_secret: 'x' })).toEqual(['config.client_secret']);
  });

  it('leaves model configs alone: names, prompts, token counts, env var names', () => {
    expect(
      secrets({
        provider: 'vllm',
        model: 'llama-3.1-8b-q4',
        max_tokens: 512,
        maxTokens: 512,
        apiKeyEnv: 'OPENAI_API_KEY',
        token: '',
        prompt: 'You are a helpful assistant. Answer in one sentence; ask for a token of appreciation.',
        tokenizer: 'cl100k_base',
      }),
    ).toEqual([]);
  });

  // Each pattern once cost seconds per 60 KB because it rescanned the rest of the string
  // from every start. The scan runs in a worker so that a quadratic pattern fails the test
  // at the deadline instead of blocking it for minutes; a linear one takes milliseconds.
  it.each([
    ['a long run of letters', 'x'.repeat(256 * 1024)],
    ['many JWT-like starts with no dot', 'eyJabc-'.repeat(40_000)],
    ['a scheme-like run before a colon', 'a'.repeat(256 * 1024) + '://'],
    ['many Bearer words', 'Bearer '.repeat(40_000)],
  ])('scans %s in linear time, and still finds a secret appended to it', async (_what, filler) => {
    const patterns = SECRET_VALUES.map(([pattern]) => [pattern.source, pattern.flags]);
    const matched = await runInWorker(
      'parentPort.postMessage(workerData.patterns.some(([source, flags]) => new RegExp(source, flags).test(workerData.text)));',
      { patterns, text: filler },
    );
    expect(matched).toBe(false);
    expect(secrets({ prompt: `${filler} see https://user:pw@example.com/` })).toEqual(['config.prompt']);
  }, 60_000);
});

describe('checkUpstream: active health probes', () => {
  const withProbe = (probe: unknown) => check({ baseUrl: 'https://llm.example.com/v1', model: 'm', health: { probe } });

  it('is off by default and takes the defaults for what is left out', () => {
    expect(check({ baseUrl: 'https://llm.example.com/v1', model: 'm' }).upstream!.health!.probe).toBeUndefined();
    expect(withProbe(null).upstream!.health!.probe).toBeUndefined();
    const { upstream, errors } = withProbe({});
    expect(errors).toEqual([]);
    expect(upstream!.health!.probe).toEqual({ intervalMs: 10_000, path: '/models', timeoutMs: 2_000 });
    // Left out, the timeout fits a short interval.
    expect(withProbe({ intervalMs: 1000, path: '/health' }).upstream!.health!.probe).toEqual({ intervalMs: 1000, path: '/health', timeoutMs: 1000 });
  });

  it.each([
    [{ intervalMs: 999 }, 'upstream.health.probe.intervalMs'],
    [{ intervalMs: 1500.5 }, 'upstream.health.probe.intervalMs'],
    [{ timeoutMs: 50 }, 'upstream.health.probe.timeoutMs'],
    [{ intervalMs: 1000, timeoutMs: 5000 }, 'upstream.health.probe.timeoutMs'],
    [{ path: 'models' }, 'upstream.health.probe.path'],
    [{ path: '/models?x=1' }, 'upstream.health.probe.path'],
    [{ path: '/../admin' }, 'upstream.health.probe.path'],
    [{ path: '//evil.example.com/x' }, 'upstream.health.probe.path'],
    [{ every: 1000 }, 'upstream.health.probe.every'],
    ['often', 'upstream.health.probe'],
  ])('refuses %j, naming %s', (probe, field) => {
    const { errors } = withProbe(probe);
    expect(errors.map((e) => e.field)).toEqual([field]);
  });
});
