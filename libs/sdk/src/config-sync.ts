import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { backoffDelay, endpoint } from './backoff';
import { SseParser } from './sse-parser';
import type { ConfigSnapshot, RefreshOptions } from './types';
import { VerdictError } from './verdict-error';

export const DEFAULT_REFRESH: Required<RefreshOptions> = {
  mode: 'stream',
  pollIntervalMs: 30_000,
  reconnectBaseMs: 1000,
  reconnectMaxMs: 30_000,
};

export interface ConfigSyncOptions {
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  refresh: Required<RefreshOptions>;
  requestTimeoutMs: number;
  onSnapshot(snapshot: ConfigSnapshot): void;
  onError(error: Error): void;
}

function isSnapshot(v: unknown): v is ConfigSnapshot {
  const s = v as ConfigSnapshot | null;
  return s !== null && typeof s === 'object' && typeof s.version === 'string' && Array.isArray(s.experiments);
}

/**
 * Keeps the config snapshot current: GET /v1/sdk/config (ETag / If-None-Match) once at
 * start, then the server-sent-event stream GET /v1/sdk/config/stream, each `config`
 * event carrying a full snapshot. While the stream is down it polls with the ETag and
 * reconnects with exponential backoff and jitter. The stream's socket is unref'd: an
 * idle SDK never keeps the process alive.
 */
export class ConfigSync {
  private etag: string | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stream: ClientRequest | null = null;
  private reconnectAttempt = 0;
  private stopped = false;
  streamConnected = false;

  constructor(private readonly o: ConfigSyncOptions) {}

  /** Fetches the snapshot once; true when one was applied (or is unchanged). */
  async fetchOnce(timeoutMs = this.o.requestTimeoutMs): Promise<boolean> {
    try {
      const res = await this.o.fetch(endpoint(this.o.baseUrl, '/v1/sdk/config'), {
        headers: {
          authorization: `Bearer ${this.o.apiKey}`,
          accept: 'application/json',
          ...(this.etag !== null ? { 'if-none-match': this.etag } : {}),
        },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.status === 304) return true;
      if (!res.ok) {
        const body = await res.text().catch(() => '');
        this.o.onError(new VerdictError('config_failed', `GET /v1/sdk/config: ${res.status}`, { status: res.status, body: body.slice(0, 500) }));
        return false;
      }
      const body: unknown = await res.json();
      if (!isSnapshot(body)) {
        this.o.onError(new VerdictError('config_failed', 'GET /v1/sdk/config: not a ConfigSnapshot'));
        return false;
      }
      this.etag = res.headers.get('etag');
      this.o.onSnapshot(body);
      return true;
    } catch (cause) {
      if (!this.stopped) this.o.onError(new VerdictError('config_failed', `GET /v1/sdk/config: ${String(cause)}`, { cause }));
      return false;
    }
  }

  /** Starts background refresh according to the mode. */
  start(): void {
    if (this.stopped) return;
    if (this.o.refresh.mode === 'stream') this.connect();
    else if (this.o.refresh.mode === 'poll') this.schedulePoll();
  }

  stop(): void {
    this.stopped = true;
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.pollTimer = null;
    this.reconnectTimer = null;
    this.stream?.destroy();
    this.stream = null;
    this.streamConnected = false;
  }

  private schedulePoll(): void {
    if (this.stopped || this.pollTimer !== null) return;
    this.pollTimer = setTimeout(async () => {
      await this.fetchOnce();
      this.pollTimer = null;
      // In stream mode, polling is only the fallback while the stream is down.
      if (this.o.refresh.mode === 'poll' || !this.streamConnected) this.schedulePoll();
    }, this.o.refresh.pollIntervalMs);
    this.pollTimer.unref();
  }

  private connect(): void {
    if (this.stopped) return;
    const url = new URL(endpoint(this.o.baseUrl, '/v1/sdk/config/stream'));
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {
      headers: { authorization: `Bearer ${this.o.apiKey}`, accept: 'text/event-stream', 'cache-control': 'no-cache' },
    });
    this.stream = req;
    let failed = false;
    const fail = (message: string, details: Record<string, unknown> = {}) => {
      if (failed || this.stopped) return;
      failed = true;
      this.streamConnected = false;
      this.stream = null;
      req.destroy();
      this.o.onError(new VerdictError('stream_failed', message, details));
      this.schedulePoll();
      const delay = backoffDelay(this.reconnectAttempt++, this.o.refresh.reconnectBaseMs, this.o.refresh.reconnectMaxMs);
      // Never spin: at least half the base delay between attempts.
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        this.connect();
      }, Math.max(delay, this.o.refresh.reconnectBaseMs / 2));
      this.reconnectTimer.unref();
    };
    req.on('socket', (socket) => socket.unref());
    req.on('error', (cause) => fail(`config stream: ${cause.message}`, { cause }));
    req.on('response', (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(`config stream: ${res.statusCode}`, { status: res.statusCode });
        return;
      }
      this.streamConnected = true;
      this.reconnectAttempt = 0;
      if (this.pollTimer !== null) clearTimeout(this.pollTimer);
      this.pollTimer = null;
      const parser = new SseParser((e) => {
        if (e.event !== 'config' && e.event !== 'message') return;
        let snapshot: unknown;
        try {
          snapshot = JSON.parse(e.data);
        } catch (cause) {
          this.o.onError(new VerdictError('stream_failed', 'config stream: invalid JSON', { cause }));
          return;
        }
        if (isSnapshot(snapshot)) this.o.onSnapshot(snapshot);
        else this.o.onError(new VerdictError('stream_failed', 'config stream: not a ConfigSnapshot'));
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      res.on('end', () => fail('config stream ended'));
      res.on('error', (cause) => fail(`config stream: ${cause.message}`, { cause }));
      // Changes made between the start-up fetch and this connection are not lost.
      void this.fetchOnce();
    });
    req.end();
  }
}
