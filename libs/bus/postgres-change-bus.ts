import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Client, type Notification, Pool } from 'pg';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { ChangeBus, SharedThrottle, type ChangeHandler } from './change-bus';

/** The bus's own small pool (NOTIFY, throttle windows, pings), apart from the app's TypeORM pool. */
export const BUS_POOL = Symbol('BUS_POOL');
export const BUS_POOL_MAX = 2;
/** The listening connection's name in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'verdict-change-bus';
/** Postgres truncates identifiers past 63 bytes; a longer channel is replaced by a hash of it. */
const MAX_CHANNEL_BYTES = 63;
const RECONNECT_MAX_DELAY_MS = 2000;

export function createBusPool(config: VerdictConfig): Pool {
  const pool = new Pool({ connectionString: config.database.url, max: BUS_POOL_MAX, idleTimeoutMillis: 30_000, application_name: 'verdict-bus' });
  // An idle connection that drops (Postgres restarted) is an event, not a crash: the next query opens another.
  pool.on('error', (error) => new Logger(ChangeBus.name).warn({ err: error }, 'change bus pool connection lost'));
  return pool;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The change bus on Postgres LISTEN/NOTIFY (docs/adr/0023). NOTIFY goes through the bus pool;
 * one dedicated connection per process LISTENs. When that connection drops (Postgres restarted,
 * the backend terminated, the network), it is rebuilt with backoff (0.2 s, growing to 2 s) and every
 * channel is listened to again; what was published in between is made good by the subscribers'
 * periodic full refresh, as with Redis pub/sub.
 */
@Injectable()
export class PostgresChangeBus extends ChangeBus implements OnApplicationShutdown {
  readonly backend = 'postgres';
  private readonly logger = new Logger(ChangeBus.name);
  private readonly handlers = new Map<string, ChangeHandler[]>();
  private listener: Client | null = null;
  private connecting: Promise<Client | null> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private closed = false;

  constructor(
    @Inject(BUS_POOL) private readonly pool: Pool,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {
    super();
  }

  channel(name: string): string {
    const channel = `${this.config.redis.prefix}:${name}`;
    if (Buffer.byteLength(channel) <= MAX_CHANNEL_BYTES) return channel;
    return `verdict:${createHash('sha256').update(channel).digest('hex').slice(0, 40)}`;
  }

  async publish(name: string, message: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [this.channel(name), message]);
  }

  /** Resolves once listening; when Postgres is away it resolves anyway and listens as soon as the connection is back. */
  async subscribe(name: string, handler: ChangeHandler): Promise<void> {
    const channel = this.channel(name);
    const existing = this.handlers.get(channel);
    if (existing) {
      existing.push(handler);
      return;
    }
    this.handlers.set(channel, [handler]);
    const client = await this.connect();
    // A reconnect in between listens to every channel in `handlers`, this one included; LISTEN twice is harmless.
    if (client) await client.query(`LISTEN ${quoteIdent(channel)}`).catch((error: unknown) => this.dropped(client, error));
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
    if (this.handlers.size > 0 && !this.listener) throw new Error('the change bus listener is reconnecting');
  }

  private connect(): Promise<Client | null> {
    if (this.listener) return Promise.resolve(this.listener);
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<Client | null> {
    const client = new Client({ connectionString: this.config.database.url, application_name: LISTENER_APPLICATION_NAME, keepAlive: true });
    client.on('notification', (n: Notification) => this.dispatch(n));
    client.on('error', (error) => this.dropped(client, error));
    client.on('end', () => this.dropped(client, null));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (error) {
      this.dropped(client, error);
      return null;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return null;
    }
    if (this.attempts > 0) this.logger.log({ channels: this.handlers.size }, 'change bus listener reconnected');
    this.attempts = 0;
    this.listener = client;
    return client;
  }

  private dispatch(notification: Notification): void {
    for (const handler of this.handlers.get(notification.channel) ?? []) {
      try {
        handler(notification.payload ?? '');
      } catch (error) {
        this.logger.error({ err: error, channel: notification.channel }, 'change handler failed');
      }
    }
  }

  /** The listening connection is gone (or never came): forget it and try again after a pause. */
  private dropped(client: Client, error: unknown): void {
    if (this.listener === client) this.listener = null;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.closed || this.reconnectTimer || this.listener) return;
    this.attempts++;
    const delay = Math.min(this.attempts * 200, RECONNECT_MAX_DELAY_MS);
    if (error) this.logger.warn({ err: error, retryInMs: delay }, 'change bus listener lost');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.connecting;
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
  }
}

/** A row per key in the unlogged `throttle_window` table; the first insert or the first update after the window ends wins. */
@Injectable()
export class PostgresThrottle extends SharedThrottle {
  constructor(@Inject(BUS_POOL) private readonly pool: Pool) {
    super();
  }

  async acquire(key: string, ttlMs: number): Promise<number> {
    const won = await this.pool.query(
      `INSERT INTO throttle_window (key, until) VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond')
       ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until WHERE throttle_window.until <= clock_timestamp()
       RETURNING key`,
      [key, ttlMs],
    );
    if (won.rowCount === 1) return 0;
    const left = await this.pool.query<{ left: number }>(
      `SELECT ceil(extract(epoch FROM until - clock_timestamp()) * 1000)::int AS left FROM throttle_window WHERE key = $1`,
      [key],
    );
    return Math.max(1, left.rows[0]?.left ?? 1);
  }
}

/** Ends the bus pool after the bus and the throttle are done with it. */
@Injectable()
export class BusPoolCloser implements OnApplicationShutdown {
  constructor(@Inject(BUS_POOL) private readonly pool: Pool) {}
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
