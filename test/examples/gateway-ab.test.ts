import type { INestApplicationContext } from '@nestjs/common';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';

// The example in examples/gateway-ab, run as its README says, on the test's own service:
// two fake model servers, the experiment pointing at them, load through the gateway with the
// unchanged openai client, and the verdict read back.
/* eslint-disable @typescript-eslint/no-require-imports */
const { startModels } = require('../../examples/gateway-ab/models.js');
const { setup } = require('../../examples/gateway-ab/setup.js');
const { load } = require('../../examples/gateway-ab/load.js');
const { results, describe: describeResults } = require('../../examples/gateway-ab/results.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;
let models: { big: { url: string }; small: { url: string }; close(): Promise<void> };

beforeAll(async () => {
  t = await startTestApp({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
  worker = await startTestWorker(t.config);
  models = await startModels({ big: 0, small: 0 });
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await models?.close();
});

it('splits an unchanged OpenAI client between two model servers and reads the verdict back', async () => {
  const sdkKey: string = await setup(t.url, t.adminKey, models.big.url, models.small.url);
  const requests = 400;
  const { served, failed } = await load(t.url, sdkKey, { requests, users: 120, concurrency: 16 });
  expect(served.big + served.small + failed).toBe(requests);
  expect(served.big).toBeGreaterThan(100);
  expect(served.small).toBeGreaterThan(100);

  // Every call is one outcome, failures included (the models fail on purpose).
  let verdict: any;
  await eventually(async () => {
    verdict = await results(t.url, t.adminKey);
    return verdict.variants.reduce((sum: number, v: { events: number }) => sum + v.events, 0) === requests;
  }, 30_000, 200);
  const byKey = Object.fromEntries(verdict.variants.map((v: any) => [v.key, v]));
  expect(byKey.small.metrics.cost_usd.mean).toBeLessThan(byKey.big.metrics.cost_usd.mean);
  expect(byKey.small.metrics.ttft_ms.mean).toBeLessThan(byKey.big.metrics.ttft_ms.mean);
  expect(byKey.big.metrics.success_rate.mean).toBeGreaterThan(0.95);
  expect(['ship', 'keep_control', 'continue', 'stop']).toContain(verdict.decision.action);
  expect(describeResults(verdict)).toMatch(/decision: /);
});
