import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigSnapshot } from '../types';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** A scripted answer for the next POST to a path; `destroy` drops the connection instead. */
export interface ScriptedReply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  destroy?: boolean;
}

/**
 * A stand-in for the Verdict service, for SDK tests: serves GET /v1/sdk/config with an
 * ETag (304 on If-None-Match), the SSE stream, and records POST /v1/exposures and
 * /v1/outcomes, answering 202 unless replies are scripted. Listens on 127.0.0.1, port 0.
 */
export class FakeVerdictServer {
  readonly requests: RecordedRequest[] = [];
  readonly scripted = new Map<string, ScriptedReply[]>();
  streamEnabled = true;
  configEnabled = true;
  private readonly streams = new Set<ServerResponse>();
  private server: Server | null = null;
  url = '';

  constructor(public snapshot: ConfigSnapshot) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }

  /** Replaces the snapshot and pushes it to every open stream. */
  publish(snapshot: ConfigSnapshot): void {
    this.snapshot = snapshot;
    for (const s of this.streams) s.write(`event: config\ndata: ${JSON.stringify(snapshot)}\n\n`);
  }

  /** Ends every open stream (the SDK should reconnect). */
  dropStreams(): void {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
  }

  get openStreams(): number {
    return this.streams.size;
  }

  script(path: string, ...replies: ScriptedReply[]): void {
    this.scripted.set(path, [...(this.scripted.get(path) ?? []), ...replies]);
  }

  posts(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === path);
  }

  /** Items accepted (202) on a path, in order. */
  accepted<T>(path: string, key: 'exposures' | 'events'): T[] {
    return this.acceptedBodies.filter((b) => b.path === path).flatMap((b) => b.body[key] as T[]);
  }

  private readonly acceptedBodies: Array<{ path: string; body: Record<string, unknown> }> = [];

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      this.requests.push({ method: req.method ?? '', path, headers: req.headers, body, at: Date.now() });
      if (req.headers.authorization !== 'Bearer test-key') return this.json(res, 401, { title: 'Unauthorized' });
      if (req.method === 'GET' && path === '/v1/sdk/config') {
        if (!this.configEnabled) return this.json(res, 503, { title: 'down' });
        const etag = `"${this.snapshot.version}"`;
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { etag });
          return res.end();
        }
        return this.json(res, 200, this.snapshot, { etag });
      }
      if (req.method === 'GET' && path === '/v1/sdk/config/stream') {
        if (!this.streamEnabled) return this.json(res, 404, { title: 'Not Found' });
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(`: hello\n\nevent: config\ndata: ${JSON.stringify(this.snapshot)}\n\n`);
        this.streams.add(res);
        res.on('close', () => this.streams.delete(res));
        return;
      }
      if (req.method === 'POST' && (path === '/v1/exposures' || path === '/v1/outcomes')) {
        const reply = this.scripted.get(path)?.shift();
        if (reply?.destroy) return req.socket.destroy();
        if (reply) return this.json(res, reply.status ?? 202, reply.body ?? {}, reply.headers);
        const parsed = JSON.parse(body) as Record<string, unknown>;
        this.acceptedBodies.push({ path, body: parsed });
        const items = (parsed.exposures ?? parsed.events) as unknown[];
        return this.json(res, 202, { accepted: items.length, rejected: [] });
      }
      this.json(res, 404, { title: 'Not Found' });
    });
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }
}
