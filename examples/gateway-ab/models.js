// Two fake OpenAI-compatible model servers, standing in for a "70B" and a quantized "8B":
// POST /v1/chat/completions, streamed (with usage when stream_options.include_usage is set)
// or not. The 70B is slower per token and fails 1 % of calls with a 500; the 8B is about 4x
// faster and fails 3 %. No model, no key: the answer is a few words per prompt.
//   node examples/gateway-ab/models.js            # 70B on :4070, 8B on :4008
'use strict';

const { createServer } = require('node:http');

const MODELS = {
  '70B': { msFirst: 40, msPerToken: 4, failRate: 0.01, port: 4070 },
  '8B': { msFirst: 10, msPerToken: 1, failRate: 0.03, port: 4008 },
};

function startModel(name, port) {
  const spec = MODELS[name];
  let calls = 0;
  const server = createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'not JSON', type: 'invalid_request_error', param: null, code: null } }));
      }
      calls++;
      // Deterministic failures: every (1 / failRate)-th call.
      if (calls % Math.round(1 / spec.failRate) === 0) {
        res.writeHead(500, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: `${name} overloaded`, type: 'server_error', param: null, code: null } }));
      }
      const prompt = (body.messages || []).map((m) => String(m.content || '')).join(' ');
      const words = `${name} says: ${prompt.split(/\s+/).slice(0, 6).join(' ')}`.split(' ');
      const usage = { prompt_tokens: prompt.split(/\s+/).length + 8, completion_tokens: words.length, total_tokens: 0 };
      usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
      const id = `chatcmpl-${name}-${calls}`;
      const created = Math.floor(Date.now() / 1000);
      if (!body.stream) {
        return setTimeout(() => {
          const text = JSON.stringify({ id, object: 'chat.completion', created, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: words.join(' ') }, finish_reason: 'stop' }], usage });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        }, spec.msFirst + spec.msPerToken * words.length);
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }));
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i < words.length) {
          res.write(chunk({ content: (i ? ' ' : '') + words[i++] }));
          return setTimeout(next, spec.msPerToken);
        }
        let tail = chunk({}, 'stop');
        if (body.stream_options && body.stream_options.include_usage) tail += `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage })}\n\n`;
        res.end(`${tail}data: [DONE]\n\n`);
      };
      setTimeout(next, spec.msFirst);
    });
  });
  server.on('connection', (socket) => socket.setNoDelay(true));
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve({ name, url: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) })),
  );
}

/** Starts both models (port 0: any free port); returns their base URLs. */
async function startModels(ports = { big: MODELS['70B'].port, small: MODELS['8B'].port }) {
  const [big, small] = await Promise.all([startModel('70B', ports.big), startModel('8B', ports.small)]);
  return { big, small, close: () => Promise.all([big.close(), small.close()]) };
}

module.exports = { startModels };

if (require.main === module) {
  startModels().then(({ big, small }) => console.log(`70B at ${big.url}, 8B at ${small.url}`));
}
