// Creates the experiment `fake-model-ab` (control `big`, treatment `small`), starts it, and
// creates an sdk-scope API key; prints the key as a shell export line.
//   VERDICT_URL=http://localhost:3000 VERDICT_ADMIN_KEY=... node examples/fake-model-ab/setup.js
// Safe to run twice: an experiment that already exists is left as it is.
'use strict';

const experiment = {
  key: 'fake-model-ab',
  name: 'Can the fast 8B model replace the 70B one?',
  hypothesis: 'fake-8b keeps the success rate within 2 points of fake-70b and is faster and cheaper.',
  unitType: 'user',
  trafficAllocation: 1,
  variants: [
    { key: 'big', name: 'fake 70B', weight: 1, isControl: true, config: { model: 'fake-70b', msPerToken: 4, failRate: 0.01 }, pricing: { inputPer1M: 0.9, outputPer1M: 0.9 } },
    { key: 'small', name: 'fake 8B', weight: 1, config: { model: 'fake-8b', msPerToken: 1, failRate: 0.03 }, pricing: { inputPer1M: 0.2, outputPer1M: 0.2 } },
  ],
  metrics: {
    primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.02 },
    secondary: [{ name: 'score', goal: 'increase' }, { name: 'cost_usd', goal: 'decrease' }],
    guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }],
  },
  stats: { alpha: 0.05, sequential: true },
};

/** Creates and starts the experiment (left as it is when it exists) and returns a new sdk key; `log` gets the steps. */
async function setup(base, adminKey, log = console.error) {
  const call = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const created = await call('POST', '/v1/experiments', experiment);
  if (created.status === 201) log(`created experiment ${experiment.key}`);
  else if (created.status === 409) log(`experiment ${experiment.key} exists already`);
  else throw new Error(`POST /v1/experiments: ${created.status} ${JSON.stringify(created.body)}`);
  const current = await call('GET', `/v1/experiments/${experiment.key}`);
  if (current.body.status === 'draft') {
    const started = await call('POST', `/v1/experiments/${experiment.key}/start`);
    if (started.status !== 200) throw new Error(`start: ${started.status} ${JSON.stringify(started.body)}`);
    log('started it');
  } else {
    log(`its status is ${current.body.status}`);
  }
  const key = await call('POST', '/v1/api-keys', { name: 'fake-model-ab example', scope: 'sdk' });
  if (key.status !== 201) throw new Error(`POST /v1/api-keys: ${key.status} ${JSON.stringify(key.body)}`);
  return key.body.key;
}

module.exports = { setup, experiment };

if (require.main === module) {
  const base = (process.env.VERDICT_URL || 'http://localhost:3000').replace(/\/+$/, '');
  if (!process.env.VERDICT_ADMIN_KEY) {
    console.error('Set VERDICT_ADMIN_KEY (the admin key the service was started with).');
    process.exit(1);
  }
  setup(base, process.env.VERDICT_ADMIN_KEY)
    .then((key) => console.log(`export VERDICT_SDK_KEY=${key}`))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
