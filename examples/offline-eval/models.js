// Three fake OpenAI-compatible model servers for the offline evaluation example:
//   big   (:4170) answers every sum right, slowly;
//   small (:4108) a quantized stand-in: 4x faster, but wrong (off by one) whenever the sum is 4 modulo 6
//                 (5 of the 30 cases in dataset.jsonl: sum-5, sum-18, sum-24, sum-29, sum-30);
//   judge (:4199) grades by a scripted rubric: 5 when the graded answer equals the reference, 1 otherwise.
// POST /v1/chat/completions, streamed (usage when stream_options.include_usage is set) or not.
//   node examples/offline-eval/models.js
'use strict';

const { createServer } = require('node:http');

function sumOf(text) {
  const m = /What is (\d+) \+ (\d+)\?/.exec(text);
  return m ? Number(m[1]) + Number(m[2]) : null;
}

const SCRIPTS = {
  big: { port: 4170, msFirst: 30, answer: (q) => String(sumOf(q)) },
  small: { port: 4108, msFirst: 8, answer: (q) => String(sumOf(q) % 6 === 4 ? sumOf(q) + 1 : sumOf(q)) },
  judge: {
    port: 4199,
    msFirst: 5,
    answer: (q) => {
      const reference = /Reference answer:\n([\s\S]*?)\n\nAnswer to grade:/.exec(q)?.[1]?.trim();
      const answer = /Answer to grade:\n([\s\S]*)$/.exec(q)?.[1]?.trim();
      return answer === reference ? '{"score": 5, "reason": "equals the reference"}' : '{"score": 1, "reason": "differs from the reference"}';
    },
  },
};

function startModel(name, port) {
  const spec = SCRIPTS[name];
  const server = createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8'));
      const last = [...(body.messages || [])].reverse().find((m) => m.role === 'user');
      const text = spec.answer(String(last ? last.content : ''));
      const usage = { prompt_tokens: 40, completion_tokens: Math.max(1, text.split(/\s+/).length), total_tokens: 0 };
      usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
      setTimeout(() => {
        if (!body.stream) {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage }));
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (delta) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', model: body.model, choices: [{ index: 0, delta }] })}\n\n`;
        res.write(chunk({ role: 'assistant', content: '' }));
        res.write(chunk({ content: text }));
        const tail = body.stream_options && body.stream_options.include_usage ? `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [], usage })}\n\n` : '';
        res.end(`${tail}data: [DONE]\n\n`);
      }, spec.msFirst);
    });
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve({ name, url: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) })),
  );
}

/** Starts the three models (port 0: any free port); returns their base URLs. */
async function startModels(ports = { big: SCRIPTS.big.port, small: SCRIPTS.small.port, judge: SCRIPTS.judge.port }) {
  const [big, small, judge] = await Promise.all([startModel('big', ports.big), startModel('small', ports.small), startModel('judge', ports.judge)]);
  return { big, small, judge, close: () => Promise.all([big.close(), small.close(), judge.close()]) };
}

module.exports = { startModels, sumOf };

if (require.main === module) {
  startModels().then(({ big, small, judge }) => console.log(`big at ${big.url}, small at ${small.url}, judge at ${judge.url}`));
}
