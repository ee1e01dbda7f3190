// A small backend that A/B tests two model variants through @verdict/sdk, with a fake
// model (no API key needed). Plain CommonJS so it runs without a TypeScript step.
//   VERDICT_URL=http://localhost:3000 VERDICT_SDK_KEY=... PORT=4000 node examples/fake-model-ab/server.js
'use strict';
const http = require('node:http');

const EXPERIMENT = 'fake-model-ab';

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

/**
 * Starts the backend with the SDK's `createClient` (the built SDK from the command line, its
 * sources in the repository's tests). Resolves once the SDK is ready and the server listens
 * (port 0: any free port). `tally()` counts what the backend did per variant: calls, failures,
 * token sums and score sum, the events the SDK reports.
 */
async function startServer({ createClient, baseUrl, sdkKey, port = 4000, host, log = console.log, warn = console.warn }) {
  const tally = {};
  const count = (variant) => (tally[variant ?? 'none'] ??= { calls: 0, failures: 0, inputTokens: 0, outputTokens: 0, scoreSum: 0 });
  const verdict = createClient({
    baseUrl,
    apiKey: sdkKey,
    snapshot: fallbackSnapshot,
    hooks: {
      onAssignment: (e) => log(`exposure ${e.unitId} -> ${e.variant} (phase ${e.phase})`),
      onError: (err) => warn(`verdict: ${err.message}`),
    },
  });
  // A made-up quality score, as a real app would get from a grader or user feedback.
  const score = (r) => (r.usage.completion_tokens > 40 ? 1 : 0.5);

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
        const reply = await verdict.run(
          EXPERIMENT,
          String(userId),
          async (a) => {
            const t = count(a.variant);
            t.calls++;
            try {
              const r = await fakeModel(a.config, String(prompt ?? ''));
              t.inputTokens += r.usage.prompt_tokens;
              t.outputTokens += r.usage.completion_tokens;
              t.scoreSum += score(r);
              return r;
            } catch (err) {
              t.failures++;
              throw err;
            }
          },
          { outcome: (r) => ({ score: score(r) }) },
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model: reply.model, text: reply.choices[0].message.content }));
      } catch (err) {
        res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message }));
      }
    });
  });

  const { source, version } = await verdict.ready();
  await new Promise((resolve) => server.listen(port, host, resolve));
  const actual = server.address().port;
  log(`fake-model-ab on :${actual}, config from ${source} (${version})`);
  return {
    port: actual,
    source,
    tally: () => JSON.parse(JSON.stringify(tally)),
    stats: () => verdict.stats(),
    /** Stops the server and flushes the SDK's buffers; resolves true when everything was sent. */
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      return verdict.close();
    },
  };
}

module.exports = { startServer, EXPERIMENT };

if (require.main === module) {
  const { createClient } = require('../../libs/sdk/dist/sdk/src/index.js');
  startServer({
    createClient,
    baseUrl: process.env.VERDICT_URL || 'http://localhost:3000',
    sdkKey: process.env.VERDICT_SDK_KEY || 'dev-sdk-key',
    port: Number(process.env.PORT || 4000),
  }).then((app) => {
    const shutdown = async () => {
      await app.close();
      console.log('flushed', JSON.stringify(app.stats()));
      process.exit(0);
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}
