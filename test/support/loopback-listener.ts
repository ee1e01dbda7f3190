import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An HTTP server on a loopback address that counts TCP connections on its socket (not
 * just requests), so a test can prove that nothing ever reached it.
 */
export interface LoopbackListener {
  host: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  /** Resolves once every accepted connection has been closed (by either side). */
  allClosed(): Promise<void>;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export async function startLoopbackListener(host = '127.0.0.1', handler: Handler = (_req, res) => res.writeHead(204).end()): Promise<LoopbackListener> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      listener.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  const listener: LoopbackListener = {
    host,
    port: 0,
    connections: 0,
    requests: [],
    async allClosed() {
      while (sockets.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  server.on('connection', (socket: Socket) => {
    listener.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  listener.port = (server.address() as AddressInfo).port;
  return listener;
}
