// Creates the experiment `gateway-ab`, whose variants send their traffic to the two fake
// model servers (variant `big` -> the 70B, control; `small` -> the 8B), starts it, and creates
// an sdk-scope key; prints it as an export line.
//   VERDICT_URL=http://localhost:3000 VERDICT_ADMIN_KEY=... node examples/gateway-ab/setup.js
// The service must allow the models' loopback addresses (see README.md in this folder).
'use strict';

function experiment(bigUrl, smallUrl) {
  return {
    key: 'gateway-ab',
    name: 'Can the quantized 8B replace the 70B behind our chat?',
    hypothesis: 'The 8B keeps the success rate within 2 points of the 70B and is faster and cheaper.',
    unitType: 'user',
    variants: [
      { key: 'big', name: '70B', weight: 1, isControl: true, pricing: { inputPer1M: 0.9, outputPer1M: 0.9 }, upstream: { baseUrl: bigUrl, model: 'llama-3.1-70b', params: { temperature: 0.2 } } },
      { key: 'small', name: '8B q4', weight: 1, pricing: { inputPer1M: 0.2, outputPer1M: 0.2 }, upstream: { baseUrl: smallUrl, model: 'llama-3.1-8b-q4', params: { temperature: 0.2 } } },
    ],
    metrics: {
      primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.05 },
      secondary: [{ name: 'cost_usd', goal: 'decrease' }, { name: 'ttft_ms', goal: 'decrease' }],
      guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }],
    },
    stats: { alpha: 0.05, sequential: true },
  };
}

/** Creates and starts the experiment (left as it is when it exists) and returns a new sdk key. */
async function setup(base, adminKey, bigUrl, smallUrl) {
  const call = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const created = await call('POST', '/v1/experiments', experiment(bigUrl, smallUrl));
  if (created.status !== 201 && created.status !== 409) throw new Error(`POST /v1/experiments: ${created.status} ${JSON.stringify(created.body)}`);
  const current = await call('GET', '/v1/experiments/gateway-ab');
  if (current.body.status === 'draft') {
    const started = await call('POST', '/v1/experiments/gateway-ab/start');
    if (started.status !== 200) throw new Error(`start: ${started.status} ${JSON.stringify(started.body)}`);
  }
  const key = await call('POST', '/v1/api-keys', { name: 'gateway-ab example', scope: 'sdk' });
  if (key.status !== 201) throw new Error(`POST /v1/api-keys: ${key.status} ${JSON.stringify(key.body)}`);
  return key.body.key;
}

module.exports = { setup };

if (require.main === module) {
  const base = (process.env.VERDICT_URL || 'http://localhost:3000').replace(/\/+$/, '');
  if (!process.env.VERDICT_ADMIN_KEY) {
    console.error('Set VERDICT_ADMIN_KEY (the admin key the service was started with).');
    process.exit(1);
  }
  setup(base, process.env.VERDICT_ADMIN_KEY, process.env.BIG_URL || 'http://127.0.0.1:4070/v1', process.env.SMALL_URL || 'http://127.0.0.1:4008/v1')
    .then((key) => console.log(`export VERDICT_SDK_KEY=${key}`))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
