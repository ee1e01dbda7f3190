import type { INestApplicationContext } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotIndex } from '../../libs/assignment/core/assign';
import { SnapshotService } from '../../libs/assignment/snapshot.service';
import { isStorableText } from '../../libs/storable/storable';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startReplica, startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';

let t: TestApp;
let worker: INestApplicationContext;
let admin: ReturnType<typeof client>;
let sdk: ReturnType<typeof client>;

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  admin = client(t.url, t.adminKey);
  const key = await admin.post('/v1/api-keys', { name: 'backend', scope: 'sdk' });
  sdk = client(t.url, key.body.key);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

async function runningExperiment(overrides: Record<string, unknown> = {}) {
  const body = experimentBody(overrides);
  expect((await admin.post('/v1/experiments', body)).status).toBe(201);
  expect((await admin.post(`/v1/experiments/${body.key}/start`)).status).toBe(200);
  return body;
}

describe('POST /v1/assign', () => {
  it('assigns deterministically with the variant config', async () => {
    const exp = await runningExperiment();
    const first = await sdk.post('/v1/assign', { experiment: exp.key, unitId: 'user-42' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ experiment: exp.key, inExperiment: true, phase: 1, reason: 'hashed' });
    expect(['control', 'small']).toContain(first.body.variant);
    const variant = exp.variants.find((v: any) => v.key === first.body.variant);
    expect(first.body.config).toEqual(variant.config);
    for (let i = 0; i < 5; i++) {
      expect((await sdk.post('/v1/assign', { experiment: exp.key, unitId: 'user-42' })).body.variant).toBe(first.body.variant);
    }
  });

  it('splits units by the weights', async () => {
    const exp = await runningExperiment({ variants: [
      { key: 'control', weight: 3, isControl: true },
      { key: 'small', weight: 1 },
    ] });
    const items = Array.from({ length: 1000 }, (_, i) => ({ experiment: exp.key, unitId: `u-${i}` }));
    const res = await sdk.post('/v1/assign/batch', { items });
    expect(res.status).toBe(200);
    expect(res.body.assignments).toHaveLength(1000);
    expect(res.body.assignments.map((a: any) => a.experiment)).toEqual(items.map((i) => i.experiment));
    const small = res.body.assignments.filter((a: any) => a.variant === 'small').length;
    // 25 % of 1000 with a 4.5-sigma band (sd ~ 13.7).
    expect(small).toBeGreaterThan(250 - 62);
    expect(small).toBeLessThan(250 + 62);
  });

  it('answers every published vector exactly', async () => {
    // The vectors carry their own salts, so their experiments are written straight into the database.
    const vectors = JSON.parse(readFileSync(join(__dirname, '../../libs/assignment/core/vectors.json'), 'utf8'));
    const [{ project_id: projectId }] = await t.db.query('SELECT project_id FROM api_key WHERE is_bootstrap');
    for (const e of vectors.experiments) {
      await t.db.query(
        `INSERT INTO experiment (project_id, key, name, unit_type, status, salt, traffic_allocation, variants, metrics, stats, layer, forced, winner, phase)
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          projectId, e.key, e.unitType, e.state, e.salt, e.trafficAllocation,
          JSON.stringify(e.variants.map((v: any) => ({ ...v, name: v.key, pricing: null }))),
          JSON.stringify({ primary: { name: 'success_rate', goal: 'increase' }, secondary: [], guardrails: [], custom: [], scoreRange: { min: 0, max: 1 } }),
          JSON.stringify({ alpha: 0.05, sequential: true, plannedUnits: null }),
          e.layer ? JSON.stringify(e.layer) : null, JSON.stringify(e.forced), e.winner, e.phase,
        ],
      );
    }
    await t.app.get(SnapshotService).refresh(projectId);

    // Lone surrogates and NUL hash fine (the vectors pin how) but cannot be stored in the exposure (docs/adr/0015).
    const valid = vectors.cases.filter((c: any) => c.unitId.length >= 1 && c.unitId.length <= 256 && isStorableText(c.unitId));
    expect(valid.some((c: any) => [...c.unitId].some((ch) => ch.codePointAt(0)! > 0x7f))).toBe(true);
    for (let i = 0; i < valid.length; i += 1000) {
      const chunk = valid.slice(i, i + 1000);
      const res = await sdk.post('/v1/assign/batch', { items: chunk.map((c: any) => ({ experiment: c.experiment, unitId: c.unitId })) });
      expect(res.status).toBe(200);
      res.body.assignments.forEach((a: any, j: number) => {
        const { variant, inExperiment, reason, phase } = a;
        expect({ unitId: chunk[j].unitId, variant, inExperiment, reason, phase }).toEqual({ unitId: chunk[j].unitId, ...chunk[j].expected });
      });
    }
    // Ids the library accepts but the API refuses by contract (empty, over 256 characters, unstorable) get a 400.
    const refused = vectors.cases.filter((c: any) => !valid.includes(c));
    const samples = [...refused.slice(0, 3), ...refused.filter((c: any) => !isStorableText(c.unitId)).slice(0, 3)];
    expect(samples.length).toBe(6);
    for (const c of samples) {
      const res = await sdk.post('/v1/assign', { experiment: c.experiment, unitId: c.unitId });
      expect([res.status, res.body.errors?.[0]?.field]).toEqual([400, 'unitId']);
    }
  });

  it('serves forced variants to QA units without counting them', async () => {
    const exp = await runningExperiment({ forced: { 'qa-1': 'small', 'qa-2': 'control' } });
    const qa1 = await sdk.post('/v1/assign', { experiment: exp.key, unitId: 'qa-1' });
    expect(qa1.body).toMatchObject({ variant: 'small', inExperiment: false, reason: 'forced' });
    const qa2 = await sdk.post('/v1/assign', { experiment: exp.key, unitId: 'qa-2' });
    expect(qa2.body).toMatchObject({ variant: 'control', reason: 'forced' });
  });

  it('serves the control while paused and stopped, and the winner once concluded', async () => {
    const exp = await runningExperiment();
    const units = Array.from({ length: 50 }, (_, i) => ({ experiment: exp.key, unitId: `p-${i}` }));
    await admin.post(`/v1/experiments/${exp.key}/pause`);
    const paused = await sdk.post('/v1/assign/batch', { items: units });
    expect(paused.body.assignments.every((a: any) => a.variant === 'control' && !a.inExperiment && a.reason === 'paused')).toBe(true);
    await admin.post(`/v1/experiments/${exp.key}/resume`);
    await admin.post(`/v1/experiments/${exp.key}/conclude`, { winner: 'small' });
    const concluded = await sdk.post('/v1/assign/batch', { items: units });
    expect(concluded.body.assignments.every((a: any) => a.variant === 'small' && !a.inExperiment && a.reason === 'concluded')).toBe(true);
    expect(concluded.body.assignments[0].config).toEqual(exp.variants[1].config);
  });

  it('keeps every unit that was in when the allocation ramps from 10 % to 50 %', async () => {
    const exp = await runningExperiment({ trafficAllocation: 0.1 });
    const items = Array.from({ length: 1000 }, (_, i) => ({ experiment: exp.key, unitId: `r-${i}` }));
    const before = (await sdk.post('/v1/assign/batch', { items })).body.assignments;
    await admin.patch(`/v1/experiments/${exp.key}`, { trafficAllocation: 0.5 });
    const after = (await sdk.post('/v1/assign/batch', { items })).body.assignments;
    const inBefore = before.filter((a: any) => a.inExperiment).length;
    expect(inBefore).toBeGreaterThan(50);
    before.forEach((a: any, i: number) => {
      if (a.inExperiment) expect(after[i]).toMatchObject({ inExperiment: true, variant: a.variant, phase: 2 });
    });
    expect(after.filter((a: any) => a.inExperiment).length).toBeGreaterThan(400);
  });

  it('keeps experiments of the same layer apart', async () => {
    const a = await runningExperiment({ layer: { key: 'chat-model', start: 0, end: 0.5 } });
    const b = await runningExperiment({ layer: { key: 'chat-model', start: 0.5, end: 1 } });
    const units = Array.from({ length: 400 }, (_, i) => `l-${i}`);
    const res = await sdk.post('/v1/assign/batch', {
      items: units.flatMap((unitId) => [{ experiment: a.key, unitId }, { experiment: b.key, unitId }]),
    });
    const both = units.filter((_, i) => res.body.assignments[2 * i].inExperiment && res.body.assignments[2 * i + 1].inExperiment);
    expect(both).toEqual([]);
    const inA = units.filter((_, i) => res.body.assignments[2 * i].inExperiment).length;
    expect(inA).toBeGreaterThan(120);
    expect(inA).toBeLessThan(280);
  });

  it('refuses bad input with the field named', async () => {
    const exp = await runningExperiment();
    const unknown = await sdk.post('/v1/assign', { experiment: 'nope', unitId: 'u' });
    expect(unknown.status).toBe(404);
    const draft = experimentBody();
    await admin.post('/v1/experiments', draft);
    expect((await sdk.post('/v1/assign', { experiment: draft.key, unitId: 'u' })).status).toBe(404);
    const cases: Array<[unknown, string]> = [
      [{ experiment: exp.key }, 'unitId'],
      [{ experiment: exp.key, unitId: '' }, 'unitId'],
      [{ experiment: exp.key, unitId: 'x'.repeat(257) }, 'unitId'],
      [{ experiment: exp.key, unitId: 42 }, 'unitId'],
      [{ unitId: 'u' }, 'experiment'],
      [{ experiment: exp.key, unitId: 'u', extra: 1 }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const res = await sdk.post('/v1/assign', body);
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: any) => e.field)).toContain(field);
    }
    const tooMany = await sdk.post('/v1/assign/batch', { items: Array.from({ length: 1001 }, () => ({ experiment: exp.key, unitId: 'u' })) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].field).toBe('items');
    const mixed = await sdk.post('/v1/assign/batch', { items: [{ experiment: exp.key, unitId: 'u' }, { experiment: 'nope', unitId: 'u' }] });
    expect(mixed.status).toBe(200);
    expect(mixed.body.assignments[1]).toMatchObject({ experiment: 'nope', error: expect.stringMatching(/No experiment/) });
  });
});

describe('exposures and SRM', () => {
  it('stores the first exposure per unit and phase once, counting repeats', async () => {
    const exp = await runningExperiment();
    const items = Array.from({ length: 300 }, (_, i) => ({ experiment: exp.key, unitId: `e-${i}` }));
    await sdk.post('/v1/assign/batch', { items });
    await sdk.post('/v1/assign/batch', { items });
    const id = (await t.db.query('SELECT id FROM experiment WHERE key = $1', [exp.key]))[0].id;
    await eventually(async () => {
      const [row] = await t.db.query('SELECT count(*)::int AS units, sum(exposures)::int AS seen FROM exposure WHERE experiment_id = $1', [id]);
      return row.units === 300 && row.seen === 600;
    });
    const counts = await t.db.query('SELECT sum(units)::int AS units FROM exposure_count WHERE experiment_id = $1', [id]);
    expect(counts[0].units).toBe(300);
    const srm = await admin.get(`/v1/experiments/${exp.key}/srm`);
    expect(srm.status).toBe(200);
    expect(srm.body[0]).toMatchObject({ phase: 1, tested: true });
    expect(srm.body[0].counts.control + srm.body[0].counts.small).toBe(300);
  });

  it('accepts SDK exposures that match the assignment and rejects the rest per item', async () => {
    const exp = await runningExperiment();
    const snapshot = (await sdk.get('/v1/sdk/config')).body;
    const index = new SnapshotIndex(snapshot);
    const good = Array.from({ length: 20 }, (_, i) => {
      const a = index.assign(exp.key, `sdk-${i}`);
      return { experiment: exp.key, unitId: `sdk-${i}`, variant: a.variant!, phase: a.phase };
    });
    const wrong = { ...good[0], unitId: 'sdk-wrong', variant: good[0].variant === 'control' ? 'small' : 'control' };
    const wrongVariant = { ...wrong, variant: index.assign(exp.key, 'sdk-wrong').variant === 'control' ? 'small' : 'control' };
    const res = await sdk.post('/v1/exposures', {
      exposures: [...good, wrongVariant, { experiment: 'nope', unitId: 'x', variant: 'control' }, { ...good[1], phase: 9 }],
    });
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(20);
    expect(res.body.rejected.map((r: any) => [r.index, r.errors[0].field])).toEqual([
      [20, 'variant'],
      [21, 'experiment'],
      [22, 'phase'],
    ]);
    // Sending the same exposures again adds no unit.
    await sdk.post('/v1/exposures', { exposures: good });
    const id = (await t.db.query('SELECT id FROM experiment WHERE key = $1', [exp.key]))[0].id;
    await eventually(async () => {
      const [row] = await t.db.query('SELECT count(*)::int AS units, sum(exposures)::int AS seen FROM exposure WHERE experiment_id = $1', [id]);
      return row.units === 20 && row.seen === 40;
    });
  });

  it('flags a 52/48 split under 50/50 weights as SRM', async () => {
    const exp = await runningExperiment();
    const snapshot = (await sdk.get('/v1/sdk/config')).body;
    const index = new SnapshotIndex(snapshot);
    // Pick units so that control gets 5,200 and small 4,800 (an exposure bug dropping small's units).
    const byVariant: Record<string, string[]> = { control: [], small: [] };
    for (let i = 0; byVariant.control.length < 5200 || byVariant.small.length < 4800; i++) {
      const unitId = `srm-${i}`;
      const v = index.assign(exp.key, unitId).variant!;
      if (byVariant[v].length < (v === 'control' ? 5200 : 4800)) byVariant[v].push(unitId);
    }
    const all = [...byVariant.control.map((u) => ({ u, v: 'control' })), ...byVariant.small.map((u) => ({ u, v: 'small' }))];
    for (let i = 0; i < all.length; i += 1000) {
      const res = await sdk.post('/v1/exposures', {
        exposures: all.slice(i, i + 1000).map(({ u, v }) => ({ experiment: exp.key, unitId: u, variant: v })),
      });
      expect(res.body.accepted).toBe(Math.min(1000, all.length - i));
    }
    await eventually(async () => {
      const srm = await admin.get(`/v1/experiments/${exp.key}/srm`);
      return srm.body[0].counts.control === 5200 && srm.body[0].counts.small === 4800;
    });
    const srm = (await admin.get(`/v1/experiments/${exp.key}/srm`)).body[0];
    expect(srm.ok).toBe(false);
    expect(srm.pValue).toBeLessThan(0.001);
  });
});

describe('GET /v1/sdk/config', () => {
  it('serves the snapshot with an ETag and answers 304 when unchanged', async () => {
    const exp = await runningExperiment();
    const first = await sdk.get('/v1/sdk/config');
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const entry = first.body.experiments.find((e: any) => e.key === exp.key);
    expect(entry).toMatchObject({ state: 'running', phase: 1, trafficAllocation: 1 });
    expect(entry.salt).toBeTruthy();
    expect(entry).not.toHaveProperty('metrics');
    expect((await sdk.get('/v1/sdk/config', { 'if-none-match': etag })).status).toBe(304);
    await admin.patch(`/v1/experiments/${exp.key}`, { trafficAllocation: 0.5 });
    await eventually(async () => (await sdk.get('/v1/sdk/config', { 'if-none-match': etag })).status === 200);
  });

  // How fast (the goal: under a second) is bench/propagation.ts's to measure, not a test's.
  it('streams a new version after a change', async () => {
    const exp = await runningExperiment();
    const keyRes = await admin.post('/v1/api-keys', { name: 'stream', scope: 'sdk' });
    const stream = await fetch(`${t.url}/v1/sdk/config/stream`, { headers: { authorization: `Bearer ${keyRes.body.key}` } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = stream.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const nextEvent = async (): Promise<any> => {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) return JSON.parse(data.slice(6));
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += decoder.decode(value, { stream: true });
      }
    };
    const initial = await nextEvent();
    expect(initial.experiments.find((e: any) => e.key === exp.key).trafficAllocation).toBe(1);
    await admin.patch(`/v1/experiments/${exp.key}`, { trafficAllocation: 0.3 });
    let pushed = await nextEvent();
    while (pushed.experiments.find((e: any) => e.key === exp.key).trafficAllocation !== 0.3) pushed = await nextEvent();
    expect(pushed.experiments.find((e: any) => e.key === exp.key).phase).toBe(2);
    await reader.cancel();
  });
});

describe('replicas', () => {
  it('serves a weight change made through one replica on the other (how fast: bench/propagation.ts)', async () => {
    const replica = await startReplica(t);
    try {
      const other = client(replica.url, (await admin.post('/v1/api-keys', { name: 'replica', scope: 'sdk' })).body.key);
      const exp = await runningExperiment();
      const items = Array.from({ length: 1000 }, (_, i) => ({ experiment: exp.key, unitId: `rep-${i}` }));
      const share = async () => {
        const answers = (await other.post('/v1/assign/batch', { items })).body.assignments;
        return { phase: answers[0].phase, small: answers.filter((a: any) => a.variant === 'small').length / answers.length };
      };
      expect((await share()).phase).toBe(1);
      await admin.patch(`/v1/experiments/${exp.key}`, { variants: [{ key: 'control', weight: 9 }, { key: 'small', weight: 1 }] });
      let seen = await share();
      await eventually(async () => (seen = await share()).phase === 2);
      expect(seen.small).toBeGreaterThan(0.05);
      expect(seen.small).toBeLessThan(0.15);
    } finally {
      await replica.close();
    }
  });
});
