import type { INestApplicationContext } from '@nestjs/common';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { decodeHeader, flatten, parseMime, pngSize } from './support/mime';
import { BASE_ARM, ReportsFixture } from './support/reports-fixture';
import { SmtpCatcher } from './support/smtp-catcher';

jest.setTimeout(90_000);

let smtp: SmtpCatcher;
let t: TestApp;
let worker: INestApplicationContext;
let f: ReportsFixture;

beforeAll(async () => {
  smtp = new SmtpCatcher();
  const smtpUrl = await smtp.start();
  t = await startTestApp({ SMTP_URL: smtpUrl, REPORT_FROM: 'Verdict <reports@verdict.test>', VERDICT_PUBLIC_URL: 'https://verdict.example.com' });
  worker = await startTestWorker(t.config);
  f = new ReportsFixture(t);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await smtp?.stop();
});

const report = (overrides: Record<string, unknown> = {}) => ({
  name: 'Weekly model experiments',
  recipients: ['ml-team@example.com'],
  cron: '0 9 * * 1',
  timezone: 'Europe/Paris',
  ...overrides,
});

async function sendAndWait(id: string, until: (send: any) => boolean): Promise<any> {
  const queued = await f.admin.post(`/v1/reports/${id}/send`);
  expect(queued.status).toBe(202);
  expect(queued.body).toMatchObject({ status: 'queued', trigger: 'manual', attempts: 0 });
  let send: any;
  await eventually(async () => {
    const sends = await f.admin.get(`/v1/reports/${id}/sends`);
    send = sends.body.items.find((s: any) => s.id === queued.body.id);
    return !!send && until(send);
  }, 40_000, 100);
  return send;
}

describe('report subscriptions', () => {
  it('creates, lists, changes and deletes a report, auditing each change', async () => {
    const created = await f.admin.post('/v1/reports', report({ experiments: ['exp-a', 'exp-b'] }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'Weekly model experiments', recipients: ['ml-team@example.com'], cron: '0 9 * * 1', timezone: 'Europe/Paris', experiments: ['exp-a', 'exp-b'] });
    const id = created.body.id;
    expect((await f.admin.get('/v1/reports')).body.items.map((r: any) => r.id)).toContain(id);

    const patched = await f.admin.patch(`/v1/reports/${id}`, { cron: '30 8 * * *', experiments: null });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ cron: '30 8 * * *', experiments: null, name: 'Weekly model experiments' });

    expect((await f.admin.delete(`/v1/reports/${id}`)).status).toBe(204);
    expect((await f.admin.get('/v1/reports')).body.items.map((r: any) => r.id)).not.toContain(id);
    expect((await f.admin.patch(`/v1/reports/${id}`, { name: 'x' })).status).toBe(404);

    const audit = await t.db.query(`SELECT action, actor, before, after FROM audit_entry WHERE target_type = 'report' AND target_id = $1 ORDER BY id`, [id]);
    expect(audit.map((a: any) => a.action)).toEqual(['report.created', 'report.updated', 'report.deleted']);
    expect(audit[1].before).toMatchObject({ cron: '0 9 * * 1' });
    expect(audit[1].after).toMatchObject({ cron: '30 8 * * *', experiments: null });
  });

  it('refuses a bad cron, time zone or email with the field named', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [report({ cron: '0 9 * *' }), 'cron'],
      [report({ cron: '0 25 * * *' }), 'cron'],
      [report({ timezone: 'Mars/Olympus' }), 'timezone'],
      [report({ recipients: ['not-an-email'] }), 'recipients'],
      [report({ recipients: [] }), 'recipients'],
      [report({ experiments: ['bad key!'] }), 'experiments'],
    ];
    for (const [body, field] of cases) {
      const res = await f.admin.post('/v1/reports', body);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.errors.map((e: any) => e.field)).toContain(field);
    }
    const created = await f.admin.post('/v1/reports', report());
    const res = await f.admin.patch(`/v1/reports/${created.body.id}`, { timezone: 'Nowhere/City' });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'timezone' })]);
    // A patch gets the same field checks as a creation.
    for (const [body, field] of [[{ recipients: ['not-an-email'] }, 'recipients'], [{ name: '' }, 'name'], [{ experiments: [] }, 'experiments']] as const) {
      const bad = await f.admin.patch(`/v1/reports/${created.body.id}`, body);
      expect(bad.status).toBe(400);
      expect(bad.body.errors.map((e: any) => e.field)).toContain(field);
    }
  });

  it('needs an admin key', async () => {
    const sdk = await f.sdk();
    expect((await sdk.get('/v1/reports')).status).toBe(403);
    expect((await sdk.post('/v1/reports', report())).status).toBe(403);
  });
});

describe('the report email', () => {
  it('sends the decision, the per-variant table equal to the results, and inline PNG charts', async () => {
    // Salts are random per experiment, so the split differs per run: enough units that ship is certain.
    const exp = await f.seeded({ units: 2000, seed: 11, arms: { control: BASE_ARM, treatment: { ...BASE_ARM, success: 0.8, latencyMedian: 700 } } });
    const created = await f.admin.post('/v1/reports', report({ recipients: ['ml-team@example.com', 'cto@example.com'], experiments: [exp.key, 'gone-experiment'] }));
    const send = await sendAndWait(created.body.id, (s) => s.status === 'sent');
    expect(send).toMatchObject({ attempts: 1, error: null, recipients: ['ml-team@example.com', 'cto@example.com'], experiments: [exp.key] });
    const results = await f.results(exp.key);

    const mail = smtp.messages.find((m) => m.raw.includes(send.messageId.replace(/[<>]/g, '')))!;
    expect(mail).toBeDefined();
    expect(mail.to.sort()).toEqual(['cto@example.com', 'ml-team@example.com']);
    expect(mail.from).toBe('reports@verdict.test');
    const root = parseMime(mail.raw);
    const subject = decodeHeader(root.headers.subject);
    expect(subject).toBe(send.subject);
    expect(subject).toContain('Weekly model experiments');
    const parts = flatten(root);
    const html = parts.find((p) => p.contentType === 'text/html')!.body.toString('utf8');
    const text = parts.find((p) => p.contentType === 'text/plain')!.body.toString('utf8');

    // The decision and its reasons, in both parts.
    expect(results.decision.action).toBe('ship');
    expect(html).toContain(`data-decision="ship"`);
    expect(html).toContain('Decision: Ship treatment');
    expect(text).toContain('Decision: Ship treatment');
    for (const reason of results.decision.reasons) expect(text).toContain(reason);
    expect(text).toContain('gone-experiment was not found');

    // Every table value is the results endpoint's number, and its lift the comparison's.
    for (const variant of results.variants) {
      const row = new RegExp(`<tr data-variant="${variant.key}">(.*?)</tr>`).exec(html)![1];
      const value = (metric: string) => Number(new RegExp(`data-metric="${metric}" data-value="([^"]*)"`).exec(row)![1]);
      const lift = (metric: string) => new RegExp(`data-lift="${metric}" data-value="([^"]*)"`).exec(row)![1];
      expect(value('units')).toBe(variant.units);
      expect(value('success_rate')).toBe(variant.metrics.success_rate.mean);
      expect(value('score')).toBe(variant.metrics.score.mean);
      expect(value('latency_p95')).toBe(variant.metrics.latency_ms.p95.value);
      expect(value('cost_per_success')).toBe(variant.metrics.cost_per_success.mean);
      expect(row).toContain(`${(variant.metrics.success_rate.mean * 100).toFixed(1)} %`);
      for (const metric of ['success_rate', 'score', 'latency_p95', 'cost_per_success']) {
        const comparison = results.comparisons.find((c: any) => c.variant === variant.key && c.metric === metric);
        if (variant.isControl) expect(lift(metric)).toBe('');
        else expect(Number(lift(metric))).toBe(comparison.relativeLift);
      }
    }

    // Two charts per experiment, inline PNGs referenced by their Content-ID.
    const images = parts.filter((p) => p.contentType === 'image/png');
    expect(images).toHaveLength(2);
    for (const image of images) {
      const cid = image.headers['content-id'].replace(/[<>]/g, '');
      expect(html).toContain(`src="cid:${cid}"`);
      expect(pngSize(image.body)).toEqual({ width: 1120, height: 560 });
    }
    // The link to the results page is signed and points at the public URL.
    expect(html).toMatch(new RegExp(`https://verdict.example.com/experiments/${exp.key}\\?token=[\\w-]+\\.[\\w-]+`));
  });

  it('says how much variance CUPED removed and what that did to the time to a decision', async () => {
    const exp = await f.seeded({ units: 1000, seed: 12, history: true, arms: { control: BASE_ARM, treatment: { ...BASE_ARM, success: 0.72 } } });
    const created = await f.admin.post('/v1/reports', report({ experiments: [exp.key] }));
    const send = await sendAndWait(created.body.id, (s) => s.status === 'sent');
    const results = await f.results(exp.key);
    const cuped = results.comparisons.find((c: any) => c.variant === 'treatment' && c.metric === 'success_rate').cuped;
    expect(cuped).toMatchObject({ covariate: 'pre-period', unitsWithCovariate: 1000, used: true });
    expect(cuped.varianceReduction).toBeGreaterThan(0.05);
    const mail = smtp.messages.find((m) => m.raw.includes(send.messageId.replace(/[<>]/g, '')))!;
    const parts = flatten(parseMime(mail.raw));
    const html = parts.find((p) => p.contentType === 'text/html')!.body.toString('utf8');
    const text = parts.find((p) => p.contentType === 'text/plain')!.body.toString('utf8');
    expect(html).toContain(`data-cuped="treatment" data-variance-reduction="${cuped.varianceReduction}"`);
    const pct = `${(100 * cuped.varianceReduction).toFixed(0)} %`;
    const plan = results.planning.find((p: any) => p.variant === 'treatment');
    for (const part of [html, text]) {
      expect(part).toContain(`CUPED removed ${pct} of the variance of success_rate`);
      expect(part).toContain(`about ${(100 * (1 - cuped.varianceReduction)).toFixed(0)} % of the units`);
      if (Number.isFinite(plan.additionalUnitsUnadjusted)) expect(part).toContain(`${Math.ceil(plan.additionalUnits)} more units instead of ${Math.ceil(plan.additionalUnitsUnadjusted)}`);
    }
  });

  it('retries a refused delivery with backoff and records the attempts', async () => {
    const flaky = (await f.admin.post('/v1/reports', report({ recipients: ['flaky@example.com'], experiments: ['none-yet'] }))).body;
    const down = (await f.admin.post('/v1/reports', report({ recipients: ['down@example.com'], experiments: ['none-yet'] }))).body;
    smtp.refuse('flaky@example.com', 2);
    smtp.refuse('down@example.com', 1000);
    const [recovered, failed] = await Promise.all([
      sendAndWait(flaky.id, (s) => s.status === 'sent'),
      sendAndWait(down.id, (s) => s.status === 'failed'),
    ]);
    expect(recovered).toMatchObject({ status: 'sent', attempts: 3, error: null });
    expect(smtp.to('flaky@example.com')).toHaveLength(1);
    // Five attempts, then the send is failed with the relay's error.
    expect(failed).toMatchObject({ status: 'failed', attempts: 5, sentAt: null });
    expect(failed.error).toMatch(/451 Mail relay unavailable/);
    expect(smtp.to('down@example.com')).toHaveLength(0);
  });
});
