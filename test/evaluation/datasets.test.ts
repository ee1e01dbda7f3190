import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';

let t: TestApp;
let admin: ReturnType<typeof client>;
let sdk: ReturnType<typeof client>;
let otherAdmin: ReturnType<typeof client>;

beforeAll(async () => {
  t = await startTestApp();
  admin = client(t.url, t.adminKey);
  sdk = client(t.url, (await admin.post('/v1/api-keys', { name: 'backend', scope: 'sdk' })).body.key);
  otherAdmin = client(t.url, (await admin.post('/v1/projects', { name: 'another team' })).body.adminKey.key);
});
afterAll(async () => {
  await t?.close();
});

const cases = [
  { id: 'capital-fr', prompt: 'Capital of France? One word.', reference: 'Paris', tags: ['geo'] },
  { id: 'sum', messages: [{ role: 'system', content: 'Answer with a number.' }, { role: 'user', content: '2 + 2?' }], reference: 4 },
  { id: 'json', prompt: 'Give {"city": ...} as JSON', schema: { type: 'object', required: ['city'] }, metadata: { owner: 'ml' } },
];

describe('datasets', () => {
  it('uploads JSON, fetches the cases, versions on change only, lists the latest and deletes', async () => {
    const first = await admin.post('/v1/datasets', { name: 'qa', cases });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ name: 'qa', version: 1, caseCount: 3, created: true });

    const same = await admin.post('/v1/datasets', { name: 'qa', cases });
    expect(same.body).toMatchObject({ id: first.body.id, version: 1, created: false });

    const changed = await admin.post('/v1/datasets', { name: 'qa', cases: [...cases, { prompt: 'One more' }] });
    expect(changed.body).toMatchObject({ version: 2, caseCount: 4, created: true });

    const got = await admin.get('/v1/datasets/qa');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ version: 2, versions: [2, 1], total: 4 });
    expect(got.body.items.map((c: any) => c.id)).toEqual(['capital-fr', 'sum', 'json', 'case-3']);
    expect(got.body.items[0]).toEqual({ position: 0, id: 'capital-fr', messages: [{ role: 'user', content: 'Capital of France? One word.' }], reference: 'Paris', schema: null, tags: ['geo'], metadata: {} });
    expect(got.body.items[1].reference).toBe(4);
    expect(got.body.items[2].schema).toEqual({ type: 'object', required: ['city'] });

    const v1 = await admin.get('/v1/datasets/qa?version=1&limit=1&offset=1');
    expect(v1.body).toMatchObject({ version: 1, total: 3 });
    expect(v1.body.items.map((c: any) => c.id)).toEqual(['sum']);

    await admin.post('/v1/datasets', { name: 'another', cases: [{ prompt: 'x' }] });
    const list = await admin.get('/v1/datasets');
    expect(list.body.items.map((d: any) => [d.name, d.version])).toEqual([
      ['another', 1],
      ['qa', 2],
    ]);

    expect((await admin.delete('/v1/datasets/qa')).status).toBe(204);
    expect((await admin.get('/v1/datasets/qa')).status).toBe(404);
    expect((await admin.delete('/v1/datasets/qa')).status).toBe(404);
    // The versions stay for the runs that used them.
    const rows = await t.db.query(`SELECT version, deleted_at IS NOT NULL AS deleted FROM dataset_version WHERE name = 'qa' ORDER BY version`);
    expect(rows).toEqual([
      { version: 1, deleted: true },
      { version: 2, deleted: true },
    ]);
    const reuploaded = await admin.post('/v1/datasets', { name: 'qa', cases });
    expect(reuploaded.body).toMatchObject({ version: 3, created: true });
    const audit = await t.db.query(`SELECT action FROM audit_entry WHERE target_type = 'dataset' ORDER BY id`);
    expect(audit.map((a: any) => a.action)).toEqual(['dataset.created', 'dataset.created', 'dataset.created', 'dataset.deleted', 'dataset.created']);
  });

  it('uploads JSON Lines with the name in the query and names a malformed line', async () => {
    const jsonl = `${cases.map((c) => JSON.stringify(c)).join('\n')}\n`;
    const ok = await admin.post('/v1/datasets?name=lines', jsonl, { 'content-type': 'application/x-ndjson' });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ name: 'lines', version: 1, caseCount: 3 });

    const bad = await admin.post('/v1/datasets?name=lines', '{"prompt":"a"}\n{"prompt": nope}\n', { 'content-type': 'application/jsonl' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(bad.body.errors).toEqual([{ field: 'line.2', message: expect.stringContaining('line 2 is not valid JSON') }]);

    const noName = await admin.post('/v1/datasets', '{"prompt":"a"}', { 'content-type': 'application/x-ndjson' });
    expect(noName.status).toBe(400);
    expect(noName.body.errors[0].field).toBe('name');
  });

  it('answers 400 naming the case index, 413 naming an oversized case', async () => {
    const bad = await admin.post('/v1/datasets', { name: 'bad', cases: [{ prompt: 'ok' }, { messages: [{ role: 'robot', content: 'x' }] }] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ field: 'cases.1.messages.0', message: expect.stringContaining('role') }]);

    const big = await admin.post('/v1/datasets', { name: 'big', cases: [{ prompt: 'ok' }, { prompt: 'x'.repeat(70_000) }] });
    expect(big.status).toBe(413);
    expect(big.body.errors).toEqual([{ field: 'cases.1', message: 'is larger than 65536 bytes' }]);

    const nul = await admin.post('/v1/datasets?name=nul', '{"prompt":"a\\u0000b"}', { 'content-type': 'application/x-ndjson' });
    expect(nul.status).toBe(400);
    expect(nul.body.errors[0]).toMatchObject({ field: 'line.1.prompt' });

    const whole = await admin.post('/v1/datasets', { name: 'huge', cases: [{ prompt: 'y'.repeat(60_000) }, ...new Array(20).fill({ prompt: 'z'.repeat(60_000) })] });
    expect(whole.status).toBe(413);
    expect((await admin.get('/v1/datasets')).body.items.map((d: any) => d.name)).not.toEqual(expect.arrayContaining(['bad', 'big', 'nul', 'huge']));
  });

  it('needs an admin key and keeps projects apart', async () => {
    await admin.post('/v1/datasets', { name: 'private', cases: [{ prompt: 'x' }] });
    expect((await sdk.post('/v1/datasets', { name: 'x', cases: [{ prompt: 'x' }] })).status).toBe(403);
    expect((await sdk.get('/v1/datasets')).status).toBe(403);
    expect((await otherAdmin.get('/v1/datasets/private')).status).toBe(404);
    expect((await otherAdmin.get('/v1/datasets')).body.items).toEqual([]);
    expect((await client(t.url).get('/v1/datasets')).status).toBe(401);
  });
});
