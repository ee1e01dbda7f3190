import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { startTestApp, type TestApp } from '../support/test-app';
import { startTestWorker } from '../support/test-worker';

// The example in examples/offline-eval, run as its README says, on the test's own service:
// three fake models, the experiment and the dataset, the run through the CLI, the verdict.
/* eslint-disable @typescript-eslint/no-require-imports */
const { startModels } = require('../../examples/offline-eval/models.js');
const { setup } = require('../../examples/offline-eval/setup.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;
let models: { big: { url: string }; small: { url: string }; judge: { url: string }; close(): Promise<void> };

beforeAll(async () => {
  t = await startTestApp({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
  worker = await startTestWorker(t.config);
  models = await startModels({ big: 0, small: 0, judge: 0 });
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await models?.close();
});

function evalCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(__dirname, '../../scripts/eval.mjs'), ...args], { env: { ...process.env, VERDICT_URL: t.url, VERDICT_API_KEY: t.adminKey }, timeout: 90_000 }, (_e, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

it('uploads the dataset, runs big against small with exact match and the judge, and prints not_ready with the wrong cases', async () => {
  const dataset = await setup(t.url, t.adminKey, { big: models.big.url, small: models.small.url, judge: models.judge.url });
  expect(dataset).toMatchObject({ name: 'sums', version: 1, caseCount: 30 });
  const evaluators = JSON.stringify([{ type: 'exact' }, { type: 'judge', variant: 'judge', rubric: 'Is the answer the correct number?' }]);
  const out = await evalCli(['--experiment', 'offline-eval', '--dataset', 'sums', '--variants', 'big,small', '--evaluators', evaluators]);
  expect(out.stderr).toBe('');
  expect(out.stdout).toMatch(/60\/60 failed 0 cost \$\d\.\d{4} done/);
  expect(out.stdout).toContain('big: 30 cases; exact 100.0%, judge 1.000');
  expect(out.stdout).toContain('small: 30 cases; exact 83.3%, judge 0.833');
  expect(out.stdout).toContain('small vs big, exact: -0.167');
  expect(out.stdout).toContain('p 0.0625 (mcnemar_exact); worst: sum-18, sum-24, sum-29, sum-30, sum-5');
  // The judge's scores: paired t and, beside it, scipy's wilcoxon([0]*5 + [1]*25, [1]*30).pvalue (docs/adr/0040).
  expect(out.stdout).toContain('p 0.0226 (paired_t), wilcoxon p 0.0253; worst: sum-18');
  expect(out.stdout).toMatch(/^ {2}small vs big, ttft_ms: -?\d+\.\d{3} \[-?\d+\.\d{3}, -?\d+\.\d{3}\] p \S+ \(wilcoxon\)$/m);
  expect(out.stdout).toMatch(/^verdict: not_ready$/m);
  expect(out.code).toBe(2);

  const again = await evalCli(['--experiment', 'offline-eval', '--dataset', 'sums', '--variants', 'big,small', '--evaluators', evaluators]);
  expect(again.stdout).toContain('60/60 failed 0 cost $0.0000 done');
});
