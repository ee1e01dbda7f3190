import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';

let t: TestApp;
let admin: ReturnType<typeof client>;
let sdk: ReturnType<typeof client>;
let other: { admin: ReturnType<typeof client>; sdk: ReturnType<typeof client> };
let experimentKey: string;

beforeAll(async () => {
  t = await startTestApp();
  admin = client(t.url, t.adminKey);
  sdk = client(t.url, (await admin.post('/v1/api-keys', { name: 'backend', scope: 'sdk' })).body.key);
  const project = await admin.post('/v1/projects', { name: 'another team' });
  expect(project.status).toBe(201);
  const otherAdmin = client(t.url, project.body.adminKey.key);
  other = { admin: otherAdmin, sdk: client(t.url, (await otherAdmin.post('/v1/api-keys', { name: 'theirs', scope: 'sdk' })).body.key) };
  const body = experimentBody();
  experimentKey = body.key;
  await admin.post('/v1/experiments', body);
  await admin.post(`/v1/experiments/${experimentKey}/start`);
});
afterAll(async () => {
  await t?.close();
});

const adminRoutes = (key: string): Array<[string, string, unknown?]> => [
  ['GET', '/v1/experiments'],
  ['POST', '/v1/experiments', experimentBody()],
  ['GET', `/v1/experiments/${key}`],
  ['PATCH', `/v1/experiments/${key}`, { name: 'x' }],
  ['POST', `/v1/experiments/${key}/pause`, {}],
  ['POST', `/v1/experiments/${key}/conclude`, { winner: 'control' }],
  ['GET', `/v1/experiments/${key}/audit`],
  ['GET', `/v1/experiments/${key}/srm`],
  ['GET', '/v1/api-keys'],
  ['POST', '/v1/api-keys', { name: 'k', scope: 'sdk' }],
  ['DELETE', '/v1/api-keys/00000000-0000-4000-8000-000000000000'],
];
const sdkRoutes = (key: string): Array<[string, string, unknown?]> => [
  ['POST', '/v1/assign', { experiment: key, unitId: 'u' }],
  ['POST', '/v1/assign/batch', { items: [{ experiment: key, unitId: 'u' }] }],
  ['GET', '/v1/sdk/config'],
  ['POST', '/v1/exposures', { exposures: [{ experiment: key, unitId: 'u', variant: 'control' }] }],
];

describe('scopes', () => {
  it('answers 401 without a key, with a malformed header and with an unknown key, on every route', async () => {
    for (const [method, path, body] of [...adminRoutes(experimentKey), ...sdkRoutes(experimentKey)]) {
      const variants: Array<Record<string, string>> = [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer vk_admin_not-a-real-key' }];
      for (const headers of variants) {
        const res = await client(t.url).call(method, path, body, headers);
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      }
    }
  });

  it('answers 403 to an sdk key on admin routes and to an admin key on sdk routes', async () => {
    for (const [method, path, body] of adminRoutes(experimentKey)) {
      const res = await sdk.call(method, path, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
      expect(res.body.detail).toMatch(/scope admin/);
    }
    for (const [method, path, body] of sdkRoutes(experimentKey)) {
      const res = await admin.call(method, path, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
    }
  });

  it("answers 404 for another project's experiment, to its admin and sdk keys alike", async () => {
    for (const [method, path, body] of adminRoutes(experimentKey).filter(([, p]) => p.includes(experimentKey))) {
      const res = await other.admin.call(method, path, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
    }
    expect((await other.sdk.post('/v1/assign', { experiment: experimentKey, unitId: 'u' })).status).toBe(404);
    const config = await other.sdk.get('/v1/sdk/config');
    expect(config.body.experiments.map((e: any) => e.key)).not.toContain(experimentKey);
    const list = await other.admin.get('/v1/experiments');
    expect(list.body.items).toEqual([]);
  });

  it('keeps health, readiness and the OpenAPI document public', async () => {
    const anonymous = client(t.url);
    expect((await anonymous.get('/health')).status).toBe(200);
    const backend = t.config.queue.backend;
    expect((await anonymous.get('/ready')).body).toEqual({ status: 'ready', database: 'postgres', queue: backend, bus: backend, gatewayOutcomesHeld: 0 });
    expect((await anonymous.get('/docs/openapi.json')).body.openapi).toMatch(/^3\./);
  });
});

describe('API keys', () => {
  it('shows a key once, stores only its hash, and lists without secrets', async () => {
    const created = await admin.post('/v1/api-keys', { name: 'ci', scope: 'admin' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^vk_admin_[A-Za-z0-9_-]{43}$/);
    const rows = await t.db.query('SELECT * FROM api_key WHERE id = $1', [created.body.id]);
    expect(JSON.stringify(rows)).not.toContain(created.body.key);
    expect(rows[0].key_hash).toMatch(/^[0-9a-f]{64}$/);
    const listed = await admin.get('/v1/api-keys');
    const entry = listed.body.find((k: any) => k.id === created.body.id);
    expect(entry).toMatchObject({ name: 'ci', scope: 'admin', revokedAt: null });
    expect(entry).not.toHaveProperty('key');
    expect(created.body.key.startsWith(entry.prefix)).toBe(true);
  });

  it('revokes a key at once and audits it', async () => {
    const created = await admin.post('/v1/api-keys', { name: 'temp', scope: 'sdk' });
    const temp = client(t.url, created.body.key);
    expect((await temp.get('/v1/sdk/config')).status).toBe(200);
    const revoked = await admin.delete(`/v1/api-keys/${created.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await temp.get('/v1/sdk/config')).status).toBe(401);
    const audit = await t.db.query("SELECT action, actor FROM audit_entry WHERE target_id = $1 ORDER BY id", [created.body.id]);
    expect(audit.map((a: any) => a.action)).toEqual(['api_key.created', 'api_key.revoked']);
  });

  it("refuses to revoke another project's key, or a malformed id", async () => {
    const theirs = (await other.admin.get('/v1/api-keys')).body[0];
    expect((await admin.delete(`/v1/api-keys/${theirs.id}`)).status).toBe(404);
    const bad = await admin.delete('/v1/api-keys/not-a-uuid');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('id');
  });

  it('refuses bad key definitions with the field named', async () => {
    const noScope = await admin.post('/v1/api-keys', { name: 'x' });
    expect(noScope.status).toBe(400);
    expect(noScope.body.errors[0].field).toBe('scope');
    const badScope = await admin.post('/v1/api-keys', { name: 'x', scope: 'root' });
    expect(badScope.body.errors[0].field).toBe('scope');
  });

  it('lets only the bootstrap key create projects', async () => {
    const res = await other.admin.post('/v1/projects', { name: 'sneaky' });
    expect(res.status).toBe(403);
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After past the per-key rate', async () => {
    const limited = await startTestApp({ RATE_LIMIT_PER_SECOND: '5' });
    try {
      const api = client(limited.url, limited.adminKey);
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await api.get('/v1/experiments')).status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(10);
      expect(statuses).toContain(429);
      const res = await api.get('/v1/experiments');
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });
});
