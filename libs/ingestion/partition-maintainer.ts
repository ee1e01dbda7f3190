import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** Months created ahead of time, and behind (late events of last month still get their own partition). */
const MONTHS_AHEAD = 2;
const MONTHS_BEHIND = 1;
const EVERY_MS = 6 * 3600_000;

/** The partition of outcome_event holding one calendar month (UTC), e.g. outcome_event_y2026m11. */
export function monthPartition(year: number, month0: number): { name: string; from: string; to: string } {
  const from = new Date(Date.UTC(year, month0, 1));
  const to = new Date(Date.UTC(year, month0 + 1, 1));
  const name = `outcome_event_y${from.getUTCFullYear()}m${String(from.getUTCMonth() + 1).padStart(2, '0')}`;
  return { name, from: from.toISOString(), to: to.toISOString() };
}

/**
 * Creates the monthly partitions of outcome_event ahead of the events (at start-up and
 * every few hours), so that events land in a partition that retention can drop whole.
 * Events outside every month land in the default partition: nothing is ever refused.
 */
@Injectable()
export class PartitionMaintainer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PartitionMaintainer.name);
  private timer: NodeJS.Timeout | null = null;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.ensure().catch((error: unknown) => this.logger.warn({ err: error }, 'partitions not created; will retry'));
    this.timer = setInterval(() => {
      this.ensure().catch((error: unknown) => this.logger.warn({ err: error }, 'partitions not created; will retry'));
    }, EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Creates the missing months around `now`; returns the partitions created. */
  async ensure(now = new Date()): Promise<string[]> {
    const created: string[] = [];
    for (let offset = -MONTHS_BEHIND; offset <= MONTHS_AHEAD; offset++) {
      const p = monthPartition(now.getUTCFullYear(), now.getUTCMonth() + offset);
      try {
        const done = await this.dataSource.transaction(async (manager) => {
          // Several workers start at once: one creates, the others see it exists.
          await manager.query(`SELECT pg_advisory_xact_lock(hashtext('outcome_event_partitions'))`);
          const exists = await manager.query(`SELECT 1 FROM pg_class WHERE relname = $1`, [p.name]);
          if (exists.length) return false;
          await manager.query(
            `CREATE TABLE "${p.name}" PARTITION OF outcome_event FOR VALUES FROM ('${p.from}') TO ('${p.to}')`,
          );
          return true;
        });
        if (done) created.push(p.name);
      } catch (error) {
        // Typically: the default partition already holds rows of that month. They stay there (still counted).
        this.logger.warn({ err: error, partition: p.name }, 'partition not created');
      }
    }
    if (created.length) this.logger.log({ created }, 'outcome partitions created');
    return created;
  }
}
