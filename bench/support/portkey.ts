import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Portkey's open-source gateway from npm (`@portkey-ai/gateway`, a devDependency), the peer
 * people would pick instead of Verdict's gateway, started as a child process on a free port.
 * Its upstream is chosen per request by headers (`x-portkey-provider: openai` and
 * `x-portkey-custom-host`). Its streamed calls fail on Node 20 (it edits the headers of a fetch
 * response, "TypeError: immutable"), so benches use it for non-streamed calls only.
 */
export interface Portkey {
  /** The chat completions URL and the headers that route a call to `upstreamBase`. */
  target: { url: string; headers: Record<string, string> };
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts Portkey, or returns null (with the reason on stderr) when it is not installed or does not come up in 20 s. */
export async function startPortkey(upstreamBase: string): Promise<Portkey | null> {
  let entry: string;
  try {
    entry = require.resolve('@portkey-ai/gateway/build/start-server.js');
  } catch {
    console.error('Portkey is not installed (npm i -D @portkey-ai/gateway@1.9.8): its phase is left out.');
    return null;
  }
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstreamBase, authorization: 'Bearer bench' };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      // Any HTTP answer means it listens; the call itself goes to the fake upstream.
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      const stop = () => child.kill();
      // Never left behind, even when the bench fails half-way.
      process.once('exit', stop);
      return { target: { url, headers }, stop };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  child.kill();
  console.error('Portkey did not answer within 20 s: its phase is left out.');
  return null;
}
