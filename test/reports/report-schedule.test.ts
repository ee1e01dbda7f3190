import type { INestApplicationContext } from '@nestjs/common';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { SmtpCatcher } from './support/smtp-catcher';

jest.setTimeout(60_000);

let smtp: SmtpCatcher;
let t: TestApp;
let workers: INestApplicationContext[] = [];

beforeAll(async () => {
  smtp = new SmtpCatcher();
  // Crons every two seconds: the minimum interval between scheduled sends is lowered for this file.
  t = await startTestApp({ SMTP_URL: await smtp.start(), REPORT_MIN_INTERVAL_SECONDS: '1' });
  // Two workers on the same Redis prefix and database, as two worker processes would be.
  workers = await Promise.all([startTestWorker(t.config), startTestWorker(t.config)]);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await t?.close();
  await smtp?.stop();
});

it('runs the schedule with two workers, and stops when the report is deleted (its job scheduler removed)', async () => {
  const admin = client(t.url, t.adminKey);
  const created = await admin.post('/v1/reports', { name: 'Every two seconds', recipients: ['oncall@example.com'], cron: '*/2 * * * * *', timezone: 'UTC' });
  expect(created.status).toBe(201);
  const id = created.body.id;
  await eventually(async () => (await admin.get(`/v1/reports/${id}/sends`)).body.items.filter((s: any) => s.status === 'sent').length >= 4, 20_000, 100);
  expect((await admin.delete(`/v1/reports/${id}`)).status).toBe(204);
  // Deleting drops the sends with the report; what was sent is still in the mailbox, and nothing more arrives.
  const mails = smtp.to('oncall@example.com').length;
  await new Promise((resolve) => setTimeout(resolve, 4500));
  expect(smtp.to('oncall@example.com').length).toBeLessThanOrEqual(mails + 1);
  const settled = smtp.to('oncall@example.com').length;
  await new Promise((resolve) => setTimeout(resolve, 2500));
  expect(smtp.to('oncall@example.com').length).toBe(settled);
});

it('records one send per due time, on even seconds, each delivered once', async () => {
  const admin = client(t.url, t.adminKey);
  const created = await admin.post('/v1/reports', { name: 'Dedup', recipients: ['dedup@example.com'], cron: '*/2 * * * * *', timezone: 'Europe/Paris' });
  const id = created.body.id;
  let sends: any[] = [];
  await eventually(async () => {
    sends = (await admin.get(`/v1/reports/${id}/sends`)).body.items.filter((s: any) => s.status === 'sent');
    return sends.length >= 4;
  }, 20_000, 100);
  await admin.patch(`/v1/reports/${id}`, { cron: '0 0 1 1 *' });
  const due = sends.map((s) => Date.parse(s.dueAt)).sort((a, b) => a - b);
  expect(new Set(due).size).toBe(due.length);
  for (const d of due) expect(d % 2000).toBe(0);
  for (let i = 1; i < due.length; i++) expect(due[i] - due[i - 1]).toBe(2000);
  expect(sends.every((s) => s.trigger === 'schedule' && s.attempts === 1)).toBe(true);
  // One email per recorded send: the two workers never both sent a due time.
  const ids = smtp.to('dedup@example.com').map((m) => /Message-ID:\s*<([^>]+)>/i.exec(m.raw)![1]);
  for (const s of sends) expect(ids.filter((m) => `<${m}>` === s.messageId)).toHaveLength(1);
  expect(ids.length).toBeLessThanOrEqual(sends.length + 1);
});
