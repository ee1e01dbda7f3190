import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  const base = { VERDICT_ADMIN_KEY: 'a-long-enough-admin-key' };

  it('gives defaults that work against the local Postgres alone: no REDIS_URL, queues and bus on Postgres', () => {
    const config = loadConfig(base);
    expect(config.http.port).toBe(3000);
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/verdict');
    expect(config.queue).toEqual({ backend: 'postgres', schema: 'verdict_queue' });
  });

  it('keeps the Redis path when REDIS_URL is set, and lets QUEUE_BACKEND win either way', () => {
    expect(loadConfig({ ...base, REDIS_URL: 'redis://cache:6380/2' })).toMatchObject({
      queue: { backend: 'redis' },
      redis: { url: 'redis://cache:6380/2' },
    });
    expect(loadConfig({ ...base, REDIS_URL: 'redis://cache:6380/2', QUEUE_BACKEND: 'postgres' }).queue.backend).toBe('postgres');
    expect(loadConfig({ ...base, QUEUE_BACKEND: 'redis' })).toMatchObject({ queue: { backend: 'redis' }, redis: { url: 'redis://127.0.0.1:6379/0' } });
  });

  it('refuses QUEUE_BACKEND=redis without REDIS_URL in production, and a backend it does not know', () => {
    expect(() => loadConfig({ ...base, QUEUE_BACKEND: 'redis', NODE_ENV: 'production' })).toThrow(/QUEUE_BACKEND: is redis but REDIS_URL is not set/);
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).queue.backend).toBe('postgres');
    expect(() => loadConfig({ ...base, QUEUE_BACKEND: 'kafka' })).toThrow(/QUEUE_BACKEND: must be redis or postgres/);
    expect(() => loadConfig({ ...base, VERDICT_QUEUE_SCHEMA: 'Queue; drop' })).toThrow(/VERDICT_QUEUE_SCHEMA/);
  });

  it('names a missing admin key', () => {
    expect(() => loadConfig({})).toThrow(/VERDICT_ADMIN_KEY: is required/);
  });

  it('names every bad setting at once', () => {
    let error: unknown;
    try {
      loadConfig({ ...base, PORT: 'eighty', DATABASE_URL: 'mysql://x', REDIS_URL: 'nope' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/PORT:/);
    expect(message).toMatch(/DATABASE_URL: must be a postgres:\/\/ URL/);
    expect(message).toMatch(/REDIS_URL: must be a redis:\/\/ URL/);
  });

  it('never echoes a value: URLs may hold passwords', () => {
    let message = '';
    try {
      loadConfig({ ...base, SMTP_URL: 'http://reports:hunter2-smtp@mail', DATABASE_URL: 'mysql://u:hunter2-db@h/x', REDIS_URL: 'http://:hunter2-redis@h:6379' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/SMTP_URL: must be an smtp:\/\/ URL/);
    expect(message).toMatch(/DATABASE_URL:/);
    expect(message).toMatch(/REDIS_URL:/);
    expect(message).not.toMatch(/hunter2/);
  });

  it('keeps offline answers 30 days by default, pruned hourly; 0 keeps them for ever; 8 calls per upstream; a bad value is named', () => {
    expect(loadConfig(base).evaluation).toEqual({ answerCacheDays: 30, answerPruneIntervalMs: 3_600_000, upstreamMaxInFlight: 8 });
    expect(loadConfig({ ...base, EVAL_ANSWER_CACHE_DAYS: '0', EVAL_ANSWER_PRUNE_INTERVAL_MS: '60000', EVAL_UPSTREAM_MAX_IN_FLIGHT: '3' }).evaluation).toEqual({ answerCacheDays: 0, answerPruneIntervalMs: 60_000, upstreamMaxInFlight: 3 });
    for (const [name, value] of [['EVAL_ANSWER_CACHE_DAYS', '-1'], ['EVAL_ANSWER_CACHE_DAYS', '1.5'], ['EVAL_ANSWER_CACHE_DAYS', 'month'], ['EVAL_ANSWER_PRUNE_INTERVAL_MS', '10'], ['EVAL_UPSTREAM_MAX_IN_FLIGHT', '0'], ['EVAL_UPSTREAM_MAX_IN_FLIGHT', '2.5'], ['EVAL_UPSTREAM_MAX_IN_FLIGHT', '1000']]) {
      expect(() => loadConfig({ ...base, [name]: value })).toThrow(new RegExp(`${name}:`));
    }
  });

  it('holds 10,000 gateway outcomes for retry by default; 0 holds none; a bad value is named', () => {
    expect(loadConfig(base).gateway.outcomeBufferMax).toBe(10_000);
    expect(loadConfig({ ...base, GATEWAY_OUTCOME_BUFFER_MAX: '0' }).gateway.outcomeBufferMax).toBe(0);
    for (const value of ['-1', '2.5', 'many', '1000001']) {
      expect(() => loadConfig({ ...base, GATEWAY_OUTCOME_BUFFER_MAX: value })).toThrow(/GATEWAY_OUTCOME_BUFFER_MAX:/);
    }
  });

  it('coerces numeric settings', () => {
    expect(loadConfig({ ...base, PORT: '8080' }).http.port).toBe(8080);
  });

  it('keeps outbound requests to public https unless the operator says otherwise', () => {
    expect(loadConfig(base).outbound).toEqual({ allowHttp: false, allowedCidrs: [], webhookTimeoutMs: 10_000 });
    const internal = loadConfig({ ...base, OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: ' 10.1.0.0/16, 127.0.0.1 ,fd00::/8' });
    expect(internal.outbound).toMatchObject({ allowHttp: true, allowedCidrs: ['10.1.0.0/16', '127.0.0.1', 'fd00::/8'] });
  });

  it('names a bad outbound setting', () => {
    expect(() => loadConfig({ ...base, OUTBOUND_ALLOW_HTTP: 'yes' })).toThrow(/OUTBOUND_ALLOW_HTTP: must be true or false/);
    expect(() => loadConfig({ ...base, OUTBOUND_ALLOWED_CIDRS: '10.0.0.0/8,10.0.0.0/99' })).toThrow(/OUTBOUND_ALLOWED_CIDRS: "10.0.0.0\/99" is not a CIDR range/);
    expect(() => loadConfig({ ...base, OUTBOUND_ALLOWED_CIDRS: 'intranet' })).toThrow(/OUTBOUND_ALLOWED_CIDRS: "intranet" is not an IP address/);
  });

  it('bounds resources by default, and refuses timeouts that contradict each other', () => {
    const config = loadConfig(base);
    expect(config.http).toMatchObject({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, connectionTimeoutMs: 120_000, keepAliveTimeoutMs: 72_000, maxConnections: 10_000, bodyMaxDepth: 32, trustProxy: false });
    expect(config.streams).toEqual({ perKey: 50, max: 2000, heartbeatMs: 15_000 });
    expect(config.reports).toEqual({ minIntervalSeconds: 3600, manualSendsPerHour: 10 });
    expect(config.auth.unknownKeyLookupsPerMinute).toBe(60);
    expect(() => loadConfig({ ...base, HTTP_HEADERS_TIMEOUT_MS: '40000' })).toThrow(/HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS/);
    expect(() => loadConfig({ ...base, CONFIG_STREAM_HEARTBEAT_MS: '120000' })).toThrow(/CONFIG_STREAM_HEARTBEAT_MS: must be shorter/);
    expect(() => loadConfig({ ...base, BODY_MAX_DEPTH: '1' })).toThrow(/BODY_MAX_DEPTH/);
  });

  it('reads TRUST_PROXY as a boolean or a list of proxy addresses', () => {
    expect(loadConfig({ ...base, TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).http.trustProxy).toBe('10.0.0.0/8, 127.0.0.1');
    expect(() => loadConfig({ ...base, TRUST_PROXY: 'yes please' })).toThrow(/TRUST_PROXY/);
  });
});
