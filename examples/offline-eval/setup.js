// Creates the experiment `offline-eval` (variant `big` the control, `small` the quantized
// candidate, `judge` a grader that gets no live traffic worth speaking of) pointing at the fake
// models, and uploads dataset.jsonl as the dataset `sums`.
//   VERDICT_URL=http://localhost:3000 VERDICT_ADMIN_KEY=... node examples/offline-eval/setup.js
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');

function experiment(urls) {
  return {
    key: 'offline-eval',
    name: 'Is the quantized 8B ready to meet users?',
    hypothesis: 'The 8B answers as well as the 70B on our dataset, faster and cheaper.',
    unitType: 'user',
    variants: [
      { key: 'big', name: '70B', weight: 1, isControl: true, pricing: { inputPer1M: 0.9, outputPer1M: 0.9 }, upstream: { baseUrl: urls.big, model: 'llama-3.1-70b' } },
      { key: 'small', name: '8B q4', weight: 1, pricing: { inputPer1M: 0.2, outputPer1M: 0.2 }, upstream: { baseUrl: urls.small, model: 'llama-3.1-8b-q4' } },
      { key: 'judge', name: 'grader', weight: 0.001, pricing: { inputPer1M: 0.5, outputPer1M: 1.5 }, upstream: { baseUrl: urls.judge, model: 'grader' } },
    ],
    metrics: { primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.02 } },
  };
}

async function setup(base, adminKey, urls) {
  const call = async (method, path, body, type = 'application/json') => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': type }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const created = await call('POST', '/v1/experiments', experiment(urls));
  if (created.status !== 201 && created.status !== 409) throw new Error(`POST /v1/experiments: ${created.status} ${JSON.stringify(created.body)}`);
  const dataset = await call('POST', '/v1/datasets?name=sums', readFileSync(join(__dirname, 'dataset.jsonl'), 'utf8'), 'application/x-ndjson');
  if (dataset.status !== 201) throw new Error(`POST /v1/datasets: ${dataset.status} ${JSON.stringify(dataset.body)}`);
  return dataset.body;
}

module.exports = { setup };

if (require.main === module) {
  const base = (process.env.VERDICT_URL || 'http://localhost:3000').replace(/\/+$/, '');
  if (!process.env.VERDICT_ADMIN_KEY) {
    console.error('Set VERDICT_ADMIN_KEY (the admin key the service was started with).');
    process.exit(1);
  }
  setup(base, process.env.VERDICT_ADMIN_KEY, { big: 'http://127.0.0.1:4170/v1', small: 'http://127.0.0.1:4108/v1', judge: 'http://127.0.0.1:4199/v1' })
    .then((d) => console.log(`dataset ${d.name} v${d.version}: ${d.caseCount} cases`))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
