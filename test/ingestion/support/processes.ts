import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VerdictConfig } from '../../../libs/config/config';

const ROOT = join(__dirname, '..', '..', '..');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

/** The worker as a separate process (TypeScript through SWC), so that a test can SIGKILL it. */
export function spawnWorker(config: VerdictConfig, databaseUrl = config.database.url): ChildProcess {
  const child = spawn(process.execPath, ['-r', join(ROOT, 'scripts/register-swc.cjs'), join(ROOT, 'apps/worker/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      QUEUE_BACKEND: config.queue.backend,
      VERDICT_QUEUE_SCHEMA: config.queue.schema,
      REDIS_URL: config.redis.url,
      VERDICT_REDIS_PREFIX: config.redis.prefix,
      VERDICT_ADMIN_KEY: config.auth.bootstrapAdminKey,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      NODE_NO_WARNINGS: '1',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A TCP proxy to Postgres that a test can make unreachable: open connections are cut and new ones refused. */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private blocked = false;

  constructor(
    readonly port: number,
    private readonly target = { host: '127.0.0.1', port: 5432 },
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.blocked) return client.destroy();
      const upstream = createConnection(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  block(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
  }

  unblock(): void {
    this.blocked = false;
  }

  async stop(): Promise<void> {
    this.block();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** A Redis server of the test's own, with append-only persistence, that can be killed and restarted on the same port and data. */
export class OwnRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'verdict-redis-'));
  private child: ChildProcess | null = null;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--appendonly', 'yes', '--dir', this.dir, '--daemonize', 'no', '--save', ''], {
      stdio: 'ignore',
    });
    const { Redis } = await import('ioredis');
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        probe.disconnect();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('redis-server did not start');
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await exited(child);
    this.child = null;
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
