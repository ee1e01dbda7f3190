import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent, errors, type Dispatcher } from 'undici';
import { AddressPolicy, describeRange } from './address-policy';
import { OutboundError } from './outbound.errors';
import { checkUrl, type UrlPolicy } from './url-policy';

/** Resolves a host name to every address it has (dns.lookup with all: true by default; tests pass their own). */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export interface OutboundClientOptions {
  /** Plain http allowed (OUTBOUND_ALLOW_HTTP); otherwise https only. */
  allowHttp: boolean;
  /** CIDRs (or single addresses) reachable even though they are internal (OUTBOUND_ALLOWED_CIDRS). */
  allowedCidrs: readonly string[];
  /** Bound on DNS plus TCP plus TLS, per connection (default 5 s). */
  connectTimeoutMs?: number;
  /** Connections kept per origin (default 4) and origins at a time (default 256): the pool is bounded. */
  connectionsPerOrigin?: number;
  maxOrigins?: number;
  resolve?: Resolve;
}

export interface OutboundRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Bound on the whole exchange: connect, request, answer and body. */
  timeoutMs: number;
  /** Bound on the wait for the answer's headers and between two pieces of its body (default timeoutMs): a stream may last long but not stall. */
  idleTimeoutMs?: number;
  /** The answer's body is cut off past this many bytes (an OutboundError, kind failed). */
  maxResponseBytes: number;
  /** Aborts the request (a client that went away, a shutdown). */
  signal?: AbortSignal;
}

export type OutboundHeaders = Record<string, string | string[]>;

export interface OutboundResponse {
  status: number;
  headers: OutboundHeaders;
  body: Buffer;
}

/** An answer whose body is read as it arrives, under the same size and time bounds. */
export interface OutboundStreamResponse {
  status: number;
  headers: OutboundHeaders;
  /** Read it to the end or stop early (break / return): either releases the connection. */
  body: AsyncIterable<Buffer>;
  /**
   * The other way to read the body (read one way only): callbacks instead of a promise per
   * chunk, for hot paths that forward every chunk (the gateway). `onChunk` returns false when
   * the reader cannot take more now; reading then pauses until `onFull`'s resume is called.
   * Resolves at the end; rejects with an OutboundError under the same bounds as `body`.
   */
  consume(onChunk: (chunk: Buffer) => boolean, onFull: (resume: () => void) => void): Promise<void>;
}

export type OutboundCheck = { ok: true } | { ok: false; reason: string };

/** A URL's check, and where undici sends it (origin, path with query) when it passed. */
interface CheckedTarget {
  check: ReturnType<typeof checkUrl>;
  origin: string;
  path: string;
}

const CHECK_RESOLVE_TIMEOUT_MS = 5_000;

const systemResolve: Resolve = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

/**
 * The one way Verdict sends a request to a URL that a user's configuration chose
 * (webhooks today, model upstreams of the gateway next): https only unless the operator
 * allows http, no credentials in the URL, literal addresses checked before anything is
 * sent, host names resolved at connect time with every address checked and the socket
 * connected to the checked address (the lookup hook of net/tls.connect: no second DNS
 * answer can slip in), redirects never followed (a 3xx is returned as it is), and every
 * exchange bounded in time and size. docs/adr/0016-outbound-request-guard.md.
 */
export class OutboundClient {
  private readonly policy: UrlPolicy;
  private readonly resolve: Resolve;
  private readonly agent: Agent;
  /**
   * checkUrl's answers by URL (they depend only on the URL and this client's fixed policy),
   * with the origin and path undici needs: the gateway calls the same few URLs all the time.
   */
  private readonly checked = new Map<string, CheckedTarget>();

  constructor(options: OutboundClientOptions) {
    this.policy = { allowHttp: options.allowHttp, addresses: new AddressPolicy(options.allowedCidrs) };
    this.resolve = options.resolve ?? systemResolve;
    this.agent = new Agent({
      connect: { timeout: options.connectTimeoutMs ?? 5_000, lookup: this.guardedLookup },
      connections: options.connectionsPerOrigin ?? 4,
      maxOrigins: options.maxOrigins ?? 256,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 30_000,
    });
  }

  /**
   * Whether a URL may be used, as far as can be told now: the static checks and what its
   * host resolves to today. For configuration time (a 400 naming the field); every request
   * checks again, since DNS answers change. A name that does not exist is refused; a DNS
   * that does not answer now is not held against the URL.
   */
  async check(url: string): Promise<OutboundCheck> {
    const checked = checkUrl(url, this.policy);
    if (!checked.ok) return checked;
    if (checked.literal) return { ok: true };
    try {
      await withTimeout(this.resolveChecked(checked.hostname), CHECK_RESOLVE_TIMEOUT_MS);
      return { ok: true };
    } catch (error) {
      if (!(error instanceof OutboundError)) return { ok: true };
      const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
      if (error.kind === 'refused' || code === 'ENOTFOUND' || code === 'ENODATA') return { ok: false, reason: error.message };
      return { ok: true };
    }
  }

  /** Sends the request and reads the whole answer (at most maxResponseBytes); throws OutboundError when there is none. */
  async request(input: OutboundRequest): Promise<OutboundResponse> {
    const response = await this.open(input);
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) chunks.push(chunk);
    return { status: response.status, headers: response.headers, body: Buffer.concat(chunks) };
  }

  /** Sends the request and answers once the headers are in; the body streams under the same bounds. */
  async open(input: OutboundRequest): Promise<OutboundStreamResponse> {
    let target = this.checked.get(input.url);
    if (target === undefined) {
      const check = checkUrl(input.url, this.policy);
      target = check.ok ? { check, origin: check.url.origin, path: `${check.url.pathname}${check.url.search}` } : { check, origin: '', path: '' };
      if (this.checked.size >= 1024) this.checked.clear();
      this.checked.set(input.url, target);
    }
    const checked = target.check;
    if (!checked.ok) throw new OutboundError('refused', `the URL ${checked.reason}`);
    // Not even a connection for a caller that has already gone away.
    if (input.signal?.aborted) throw new OutboundError('failed', 'the request was aborted before it was sent');
    const deadline = new Deadline(input.timeoutMs, input.signal);
    const idleTimeoutMs = input.idleTimeoutMs;
    let response: Dispatcher.ResponseData;
    try {
      // The agent itself, with the origin and path already known: undici's request(url) would parse the URL again on every call.
      response = await this.agent.request({
        origin: target.origin,
        path: target.path,
        method: input.method,
        headers: input.headers,
        body: input.body,
        signal: deadline.signal,
        headersTimeout: idleTimeoutMs ?? input.timeoutMs,
        bodyTimeout: idleTimeoutMs ?? input.timeoutMs,
      });
    } catch (error) {
      deadline.done();
      throw toOutboundError(error, deadline.expired, input.timeoutMs, idleTimeoutMs);
    }
    const headers: OutboundHeaders = {};
    for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers[name] = value;
    const raw = response.body;
    const consume = (onChunk: (chunk: Buffer) => boolean, onFull: (resume: () => void) => void) =>
      new Promise<void>((resolve, reject) => {
        let size = 0;
        let settled = false;
        const fail = (error: unknown) => {
          if (settled) return;
          settled = true;
          deadline.done();
          raw.destroy();
          reject(toOutboundError(error, deadline.expired, input.timeoutMs, idleTimeoutMs));
        };
        const resume = () => raw.resume();
        raw.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > input.maxResponseBytes) return fail(new OutboundError('failed', `the response is larger than ${input.maxResponseBytes} bytes`));
          if (!onChunk(chunk)) {
            raw.pause();
            onFull(resume);
          }
        });
        raw.once('end', () => {
          if (settled) return;
          settled = true;
          deadline.done();
          resolve();
        });
        raw.once('error', fail);
        raw.once('close', () => {
          // After 'end' or an error this is the normal close: nothing to report (and no Error to build).
          if (!settled) fail(new OutboundError('failed', 'the answer was cut off'));
        });
      });
    return { status: response.statusCode, headers, body: capped(raw, input.maxResponseBytes, deadline, input.timeoutMs, idleTimeoutMs), consume };
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }

  /** Resolves a name and checks every address it has: one internal address refuses the name. */
  private async resolveChecked(hostname: string): Promise<LookupAddress[]> {
    let addresses: LookupAddress[];
    try {
      addresses = await this.resolve(hostname);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new OutboundError('failed', `${hostname} does not resolve (${code})`, { cause: error });
    }
    if (addresses.length === 0) throw new OutboundError('failed', `${hostname} does not resolve (ENODATA)`, { cause: Object.assign(new Error('no address'), { code: 'ENODATA' }) });
    for (const { address } of addresses) {
      const check = this.policy.addresses.check(address);
      if (!check.allowed) throw new OutboundError('refused', `${hostname} resolves to ${check.address}, ${describeRange(check.range)}`);
    }
    return addresses;
  }

  /** net.connect / tls.connect call this instead of dns.lookup, and connect to what it returns. */
  private readonly guardedLookup = (
    hostname: string,
    options: LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    this.resolveChecked(hostname).then(
      (all) => {
        const addresses = options.family === 4 || options.family === 6 ? all.filter((a) => a.family === options.family) : all;
        if (addresses.length === 0) return callback(new OutboundError('failed', `${hostname} has no IPv${options.family} address`), '');
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      },
      (error: OutboundError) => callback(error, ''),
    );
  };
}

/** The body, cut off past `max` bytes; a failure while reading becomes an OutboundError too. */
async function* capped(body: Dispatcher.ResponseData['body'], max: number, deadline: Deadline, timeoutMs: number, idleTimeoutMs?: number): AsyncGenerator<Buffer> {
  let size = 0;
  let complete = false;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw new OutboundError('failed', `the response is larger than ${max} bytes`);
      yield chunk;
    }
    complete = true;
  } catch (error) {
    throw toOutboundError(error, deadline.expired, timeoutMs, idleTimeoutMs);
  } finally {
    deadline.done();
    // Stopped early (cap, error, or the reader left): drop the connection rather than read on.
    if (!complete) body.destroy();
  }
}

/**
 * The bound on a whole exchange, and the caller's signal, as one signal for undici: one
 * controller and one timer, cleared when the exchange ends. Not AbortSignal.timeout() plus
 * AbortSignal.any(): on Node 20 those two cost about twenty times a timer (weak references
 * and a finalization registry per call), on the gateway's path to the first byte
 * (docs/adr/0036-gateway-time-to-first-byte.md).
 */
class Deadline {
  /** True once the time bound has passed (the abort was the deadline's, not the caller's). */
  expired = false;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(
    timeoutMs: number,
    private readonly caller?: AbortSignal,
  ) {
    this.timer = setTimeout(this.expire, timeoutMs);
    this.timer.unref();
    caller?.addEventListener('abort', this.follow, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The exchange is over (answered, failed or read to its end): the timer and the listener go. */
  done(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.follow);
  }

  private readonly expire = (): void => {
    this.expired = true;
    this.caller?.removeEventListener('abort', this.follow);
    this.controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  };

  private readonly follow = (): void => {
    clearTimeout(this.timer);
    this.controller.abort(this.caller?.reason);
  };
}

function toOutboundError(error: unknown, timedOut: boolean, timeoutMs: number, idleTimeoutMs?: number): OutboundError {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if (e instanceof OutboundError) return e;
  if (idleTimeoutMs !== undefined && !timedOut && (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError)) {
    return new OutboundError('timed_out', `no answer, or no new data, within ${idleTimeoutMs} ms`, { cause: error });
  }
  if (
    timedOut ||
    error instanceof errors.ConnectTimeoutError ||
    error instanceof errors.HeadersTimeoutError ||
    error instanceof errors.BodyTimeoutError
  ) {
    return new OutboundError('timed_out', `no complete answer within ${timeoutMs} ms`, { cause: error });
  }
  if (error instanceof errors.MaxOriginsReachedError) return new OutboundError('failed', 'too many outbound destinations in use at once', { cause: error });
  const code = (error as NodeJS.ErrnoException)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new OutboundError('failed', code && !message.includes(code) ? `${code}: ${message}` : message, { cause: error });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
