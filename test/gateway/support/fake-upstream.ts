import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A small OpenAI-compatible model server for the gateway's tests, on loopback. What it does
 * is chosen by the request's last user text (chat `messages`, completions `prompt`, responses
 * `input`, embeddings `input`), a word from SCENARIOS, optionally followed by `:<n>` chunks and
 * `:<ms>` pace: e.g. "stream:5:20" streams five content chunks 20 ms apart. It writes headers
 * and body together with TCP_NODELAY (no delayed-ACK stall), and keeps, per request, the
 * exact bytes it sent, so a test can compare them with what reached the client.
 */
export interface FakeRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, any>;
  /** The exact bytes the fake sent as the answer body. */
  sent: Buffer;
  /** True when the client (the gateway) went away before the answer was complete. */
  abandoned: boolean;
  closedAt: number | null;
  /** Chunks written so far (the flood scenario). */
  written: number;
}

export interface FakeUpstream {
  url: string;
  /** The model this server calls itself in its answers ("70B", "8B"...). */
  name: string;
  requests: FakeRequest[];
  /** Paths of the GET requests it answered (the gateway's active health probes), apart from `requests`. */
  probes: string[];
  /** What it does before answering, changeable while it runs (pool tests): wait, or fail every call. */
  options: FakeOptions;
  /** The simulated prompt cache (with `options.promptCache`): the prompt prefixes this instance has seen, and its hits and misses. */
  cache: PromptCache;
  close(): Promise<void>;
}

export interface PromptCache {
  prefixes: Set<string>;
  hits: number;
  misses: number;
}

/** Prefixes kept by the simulated prompt cache before it is emptied (bounded). */
const PROMPT_CACHE_ENTRIES = 10_000;

export interface FakeOptions {
  firstTokenMs?: number;
  /** Fail every call: a 500, or the connection dropped before any answer. */
  fail?: '500' | 'reset';
  /** Chat answers carry this text (a stream sends it in two content chunks) instead of the default (shadow agreement tests). */
  reply?: string;
  /**
   * A simulated prompt cache (sticky tests): the prefix of a chat call (every message but the
   * last) is a hit when this instance saw it before; a non-streamed answer reports it as
   * `usage.prompt_tokens_details.cached_tokens` (the prompt's tokens on a hit, 0 on a miss).
   */
  promptCache?: boolean;
  /** The `gated` scenario: a stream sends half its chunks, then waits for this promise before the rest (a pool edited while streams are in flight). */
  gate?: Promise<void>;
}

export const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

function commandOf(body: Record<string, any>): string {
  const messages = body.messages;
  if (Array.isArray(messages) && messages.length > 0) {
    const last = messages[messages.length - 1];
    return typeof last.content === 'string' ? last.content : '';
  }
  if (typeof body.prompt === 'string') return body.prompt;
  if (typeof body.input === 'string') return body.input;
  if (Array.isArray(body.input) && typeof body.input[0] === 'string') return body.input[0];
  return '';
}

const chunk = (id: string, model: string, delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

export async function startFakeUpstream(name = 'fake', options: FakeOptions = {}): Promise<FakeUpstream> {
  const sockets = new Set<Socket>();
  const requests: FakeRequest[] = [];
  const probes: string[] = [];
  const cache: PromptCache = { prefixes: new Set(), hits: 0, misses: 0 };
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET') {
      // A health probe: answers like the calls do (fail, or a model list).
      probes.push(req.url ?? '');
      if (options.fail === 'reset') return void req.socket.destroy();
      const text = JSON.stringify(options.fail === '500' ? { error: { message: `${name} is down` } } : { object: 'list', data: [{ id: name, object: 'model' }] });
      res.writeHead(options.fail === '500' ? 500 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      return void res.end(text);
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let body: Record<string, any> = {};
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8'));
      } catch {
        // Left empty: the scenario is then the default.
      }
      const record: FakeRequest = { path: req.url ?? '', headers: req.headers, body, sent: Buffer.alloc(0), abandoned: false, closedAt: null, written: 0 };
      requests.push(record);
      res.on('close', () => {
        record.closedAt = Date.now();
        if (!res.writableFinished) record.abandoned = true;
      });
      void answer(req, res, body, record).catch(() => res.destroy());
    });
  });
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function answer(req: IncomingMessage, res: ServerResponse, body: Record<string, any>, record: FakeRequest): Promise<void> {
    const [scenario, countText, paceText] = commandOf(body).split(':');
    const count = Number(countText) || 3;
    const pace = Number(paceText) || 5;
    const model = `${name}:${String(body.model)}`;
    const id = `chatcmpl-${requests.length}`;
    const write = (text: string) => {
      record.sent = Buffer.concat([record.sent, Buffer.from(text)]);
      return res.write(text);
    };
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(value);
      record.sent = Buffer.from(text);
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req-${name}-${requests.length}`, 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    let cachedTokens = 0;
    if (options.promptCache && Array.isArray(body.messages)) {
      const prefix = JSON.stringify(body.messages.slice(0, -1));
      if (cache.prefixes.has(prefix)) {
        cache.hits++;
        cachedTokens = USAGE.prompt_tokens;
      } else {
        cache.misses++;
        if (cache.prefixes.size >= PROMPT_CACHE_ENTRIES) cache.prefixes.clear();
        cache.prefixes.add(prefix);
      }
    }
    if (options.firstTokenMs) await sleep(options.firstTokenMs);
    if (options.fail === 'reset') return void req.socket.destroy();
    if (options.fail === '500') return json(500, { error: { message: `${name} is down`, type: 'server_error', param: null, code: null } });

    switch (scenario) {
      case 'hang':
        return; // never answers
      case 'rate-limited':
        return json(
          429,
          { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
          { 'retry-after': '7', 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-should-retry': 'false' },
        );
      case 'bad-request':
        return json(400, { error: { message: 'Invalid value for temperature', type: 'invalid_request_error', param: 'temperature', code: null } });
      case 'html-502':
        res.writeHead(502, { 'content-type': 'text/html' });
        record.sent = Buffer.from('<html><body>Bad Gateway</body></html>');
        return void res.end(record.sent);
      case 'not-json':
        res.writeHead(200, { 'content-type': 'text/plain' });
        record.sent = Buffer.from('this is not json');
        return void res.end(record.sent);
      case 'reset-before':
        return void req.socket.destroy();
      case 'flood': {
        // `count` events of 16 KiB as fast as the reader takes them (waiting for drain): backpressure.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const payload = chunk(id, model, { content: 'x'.repeat(16 * 1024) });
        for (let i = 0; i < count; i++) {
          if (res.destroyed) return;
          record.written++;
          if (!res.write(payload)) await new Promise((resolve) => res.once('drain', resolve));
        }
        return void res.end('data: [DONE]\n\n');
      }
    }

    if (req.url === '/v1/embeddings') {
      const vector = [0.1, 0.2, 0.3];
      const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return json(200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding }], model, usage: { prompt_tokens: 5, total_tokens: 5 } });
    }

    if (req.url === '/v1/responses') {
      if (!body.stream) {
        return json(200, { id: 'resp_1', object: 'response', status: 'completed', model, output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hi' }] }], usage: { input_tokens: 9, output_tokens: 4, total_tokens: 13 } });
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': `req-${name}-${requests.length}` });
      const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
      write(ev('response.created', { response: { id: 'resp_1', status: 'in_progress' } }));
      for (let i = 0; i < count; i++) {
        await sleep(pace);
        write(ev('response.output_text.delta', { delta: `w${i} `, item_id: 'msg_1', output_index: 0, content_index: 0 }));
      }
      write(ev('response.completed', { response: { id: 'resp_1', status: 'completed', usage: { input_tokens: 9, output_tokens: count, total_tokens: 9 + count } } }));
      return void res.end();
    }

    if (!body.stream) {
      if (req.url === '/v1/completions') {
        return json(200, { id: 'cmpl-1', object: 'text_completion', created: 1_700_000_000, model, choices: [{ index: 0, text: 'Hello', finish_reason: 'stop' }], usage: USAGE });
      }
      if (scenario === 'tools') {
        return json(200, {
          id, object: 'chat.completion', created: 1_700_000_000, model,
          choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, finish_reason: 'tool_calls' }],
          usage: USAGE,
        });
      }
      const usage = options.promptCache ? { ...USAGE, prompt_tokens_details: { cached_tokens: cachedTokens } } : USAGE;
      return json(200, { id, object: 'chat.completion', created: 1_700_000_000, model, choices: [{ index: 0, message: { role: 'assistant', content: options.reply ?? `Hello from ${name}` }, finish_reason: 'stop' }], usage });
    }

    // Streams.
    const includeUsage = body.stream_options?.include_usage === true && scenario !== 'no-usage';
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': `req-${name}-${requests.length}`, 'x-ratelimit-remaining-tokens': '999' });
    if (req.url === '/v1/completions') {
      for (let i = 0; i < count; i++) {
        await sleep(pace);
        write(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', model, choices: [{ index: 0, text: `t${i}`, finish_reason: null }] })}\n\n`);
      }
      if (includeUsage) write(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', model, choices: [], usage: { prompt_tokens: 4, completion_tokens: count, total_tokens: 4 + count } })}\n\n`);
      write('data: [DONE]\n\n');
      return void res.end();
    }
    // The empty role chunk first (it is not the first token).
    write(chunk(id, model, { role: 'assistant', content: '' }));
    if (scenario === 'tools') {
      await sleep(pace);
      write(chunk(id, model, { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }));
      for (const piece of ['{"city"', ':"Par', 'is"}']) {
        await sleep(pace);
        write(chunk(id, model, { tool_calls: [{ index: 0, function: { arguments: piece } }] }));
      }
      write(chunk(id, model, {}, 'tool_calls'));
    } else if (options.reply !== undefined) {
      const half = Math.floor(options.reply.length / 2);
      for (const piece of [options.reply.slice(0, half), options.reply.slice(half)]) {
        await sleep(pace);
        write(chunk(id, model, { content: piece }));
      }
      write(chunk(id, model, {}, 'stop'));
    } else {
      for (let i = 0; i < count; i++) {
        await sleep(pace);
        if (scenario === 'reset' && i === Math.floor(count / 2)) return void req.socket.destroy();
        if (scenario === 'mid-error' && i === Math.floor(count / 2)) {
          write(`data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } })}\n\n`);
          return void res.end();
        }
        if (scenario === 'truncated' && i === Math.floor(count / 2)) return void res.end();
        if (scenario === 'stall' && i === Math.floor(count / 2)) return; // stops sending, keeps the connection
        if (scenario === 'gated' && i === Math.floor(count / 2)) await options.gate;
        write(chunk(id, model, { content: `w${i} ` }));
      }
      write(chunk(id, model, {}, 'stop'));
    }
    if (includeUsage) write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage: { prompt_tokens: 11, completion_tokens: count, total_tokens: 11 + count } })}\n\n`);
    write('data: [DONE]\n\n');
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    name,
    requests,
    probes,
    options,
    cache,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A raw TCP server on loopback standing in for a broken model instance: it accepts connections and reads what is sent. */
export interface RawUpstream {
  url: string;
  /** Connections accepted so far. */
  connections: number;
  /** HTTP requests received so far (request lines seen). */
  requests: number;
  close(): Promise<void>;
}

/**
 * A broken instance (pool fault tests). `hang`: accepts connections and never writes a byte.
 * `cycle`: answers its requests in turn by hanging, by dropping the connection, and with a 500.
 */
export async function startRawUpstream(behaviour: 'hang' | 'cycle'): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, requests: 0 };
  const server = createNetServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (data: Buffer) => {
      // Only the request line starts a request (a body may arrive in a later chunk).
      if (!data.subarray(0, 5).equals(Buffer.from('POST '))) return;
      const n = state.requests++;
      if (behaviour === 'hang' || n % 3 === 0) return; // never answers
      if (n % 3 === 1) return void socket.destroy();
      const text = JSON.stringify({ error: { message: 'broken instance', type: 'server_error', param: null, code: null } });
      socket.end(`HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get connections() {
      return state.connections;
    },
    get requests() {
      return state.requests;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
