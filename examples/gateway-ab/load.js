// Traffic through the gateway with the unchanged `openai` client: `requests` chat calls from
// `users` users (the body's `user` is the unit), `concurrency` at a time, half of them streamed.
// Counts what each variant served, from the x-verdict-variant header.
//   VERDICT_SDK_KEY=... node examples/gateway-ab/load.js [requests=1000] [users=200] [concurrency=20]
'use strict';

const OpenAI = require('openai');

async function load(base, sdkKey, { requests = 1000, users = 200, concurrency = 20 } = {}) {
  // The only change to an existing OpenAI application: the base URL and the key.
  const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: sdkKey, maxRetries: 0 });
  const served = { big: 0, small: 0 };
  let failed = 0;
  let next = 0;
  const one = async (n) => {
    const user = `user-${n % users}`;
    const messages = [{ role: 'user', content: `Summarise ticket ${n} in one line` }];
    try {
      if (n % 2 === 0) {
        const { response } = await openai.chat.completions.create({ model: 'gateway-ab', messages, user }).withResponse();
        served[response.headers.get('x-verdict-variant')]++;
      } else {
        const { data: stream, response } = await openai.chat.completions.create({ model: 'gateway-ab', messages, user, stream: true }).withResponse();
        for await (const part of stream) void part;
        served[response.headers.get('x-verdict-variant')]++;
      }
    } catch {
      failed++; // the models fail 1-3 % of calls on purpose: the gateway records them as upstream_5xx
    }
  };
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests) await one(next++);
  }));
  return { served, failed };
}

module.exports = { load };

if (require.main === module) {
  const base = (process.env.VERDICT_URL || 'http://localhost:3000').replace(/\/+$/, '');
  const [requests, users, concurrency] = process.argv.slice(2).map(Number);
  load(base, process.env.VERDICT_SDK_KEY, { requests: requests || 1000, users: users || 200, concurrency: concurrency || 20 })
    .then((r) => console.log(`served by big: ${r.served.big}, by small: ${r.served.small}; failed (on purpose): ${r.failed}`))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
