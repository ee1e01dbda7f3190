import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a fake model answers to the last user message of a chat; `fail` makes it answer 503 (with Retry-After 0) instead. */
export type Script = (lastUserMessage: string, system: string | undefined) => string;

export interface FakeModel {
  /** OpenAI-compatible base URL (…/v1). */
  url: string;
  /** Successful answers per last user message. */
  answered: Map<string, number>;
  /** Calls of any outcome. */
  calls: number;
  /** While true, every call is answered 503. */
  failing: boolean;
  /** Last user messages of the calls in flight now (from the request read to the response closed). */
  current: string[];
  /** The most calls in flight at once so far. */
  maxInFlight: number;
  close(): Promise<void>;
}

export const USAGE = { prompt_tokens: 10, completion_tokens: 5 };

/**
 * A local fake model on loopback: chat completions, streamed as SSE in two content chunks with
 * usage at the end (or a whole JSON answer when `stream` is false), answering what `script` says.
 */
export async function startFakeModel(name: string, script: Script, delayMs = 2): Promise<FakeModel> {
  const model: FakeModel = { url: '', answered: new Map(), calls: 0, failing: false, current: [], maxInFlight: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      model.calls++;
      if (model.failing) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' }).end(JSON.stringify({ error: { message: `${name} is down` } }));
        return;
      }
      const body = JSON.parse(raw) as { messages: { role: string; content: string }[]; stream?: boolean };
      const last = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
      model.current.push(last);
      model.maxInFlight = Math.max(model.maxInFlight, model.current.length);
      let gone = false;
      const leave = (): void => {
        if (!gone) model.current.splice(model.current.indexOf(last), 1);
        gone = true;
      };
      // 'finish' when the answer is handed to the socket (before the client can read its end), 'close' if cut.
      res.once('finish', leave).once('close', leave);
      const system = body.messages.find((m) => m.role === 'system')?.content;
      const text = script(last, system);
      model.answered.set(last, (model.answered.get(last) ?? 0) + 1);
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text } }], usage: USAGE }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const half = Math.ceil(text.length / 2);
      const chunk = (content: string) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })}\n\n`;
      res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant' } }] })}\n\n`);
      res.write(chunk(text.slice(0, half)));
      setTimeout(() => {
        if (text.length > half) res.write(chunk(text.slice(half)));
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: USAGE })}\n\n`);
        res.end('data: [DONE]\n\n');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  model.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  model.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return model;
}

/** The judge's scripted rubric: 5 when the graded answer equals the reference, 1 otherwise; nonsense when the case says so. */
export function scriptedJudge(lastUserMessage: string): string {
  if (lastUserMessage.includes('[judge-nonsense]')) return 'Looks fine to me, I would say a solid 4 out of 5.';
  const reference = /Reference answer:\n([\s\S]*?)\n\nAnswer to grade:/.exec(lastUserMessage)?.[1]?.trim();
  const answer = /Answer to grade:\n([\s\S]*)$/.exec(lastUserMessage)?.[1]?.trim();
  return answer !== undefined && answer === reference ? '{"score": 5, "reason": "matches the reference"}' : '{"score": 1, "reason": "differs from the reference"}';
}
