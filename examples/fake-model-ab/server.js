// A small backend that A/B tests two model variants through @verdict/sdk, with a fake
// model (no API key needed). Plain CommonJS so it runs without a TypeScript step.
'use strict';
const http = require('node:http');
const { createClient } = require('../../libs/sdk/dist/sdk/src/index.js');

const EXPERIMENT = 'fake-model-ab';
const PORT = Number(process.env.PORT || 4000);

// Served only until (or instead of, when offline) the service's own snapshot.
const fallbackSnapshot = {
  version: 'local-fallback',
  generatedAt: new Date().toISOString(),
  experiments: [
    {
      key: EXPERIMENT,
      salt: 'example-salt',
      unitType: 'user',
      state: 'running',
      phase: 1,
      trafficAllocation: 1,
      variants: [
        { key: 'big', weight: 0.5, isControl: true, rolledBack: false, config: { model: 'fake-70b', msPerToken: 4, failRate: 0.01 } },
        { key: 'small', weight: 0.5, isControl: false, rolledBack: false, config: { model: 'fake-8b', msPerToken: 1, failRate: 0.03 } },
      ],
      forced: {},
      winner: null,
      layer: null,
    },
  ],
};

const verdict = createClient({
  baseUrl: process.env.VERDICT_URL || 'http://localhost:3000',
  apiKey: process.env.VERDICT_SDK_KEY || 'dev-sdk-key',
  snapshot: fallbackSnapshot,
  hooks: {
    onAssignment: (e) => console.log(`exposure ${e.unitId} -> ${e.variant} (phase ${e.phase})`),
    onError: (err) => console.warn(`verdict: ${err.message}`),
  },
});

// The fake model: latency grows with output length, sometimes it fails, and it
// answers in the OpenAI shape so that run() reads the token counts.
async function fakeModel(config, prompt) {
  const outputTokens = 20 + Math.floor(Math.random() * 60);
  await new Promise((r) => setTimeout(r, outputTokens * (config?.msPerToken ?? 2)));
  if (Math.random() < (config?.failRate ?? 0)) throw Object.assign(new Error('model overloaded'), { status: 503 });
  return {
    model: config?.model ?? 'default',
    choices: [{ message: { content: `(${config?.model}) you said: ${prompt}` } }],
    usage: { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: outputTokens },
  };
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/chat') {
    res.writeHead(404).end();
    return;
  }
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', async () => {
    try {
      const { userId, prompt } = JSON.parse(body || '{}');
      const reply = await verdict.run(EXPERIMENT, String(userId), (a) => fakeModel(a.config, String(prompt ?? '')), {
        // A made-up quality score, as a real app would get from a grader or user feedback.
        outcome: (r) => ({ score: r.usage.completion_tokens > 40 ? 1 : 0.5 }),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model: reply.model, text: reply.choices[0].message.content }));
    } catch (err) {
      res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message }));
    }
  });
});

verdict.ready().then(({ source, version }) => {
  server.listen(PORT, () => console.log(`fake-model-ab on :${PORT}, config from ${source} (${version})`));
});

async function shutdown() {
  server.close();
  await verdict.close();
  console.log('flushed', JSON.stringify(verdict.stats()));
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
