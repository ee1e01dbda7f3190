import { Injectable, Logger, Module } from '@nestjs/common';
import { InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { ValidationFailedError } from '../errors/domain-error';
import { GatewayCaptureEntity } from './gateway-capture.entity';
import { GATEWAY_ENTITIES } from './gateway.entities';

/** One captured call as it is stored and listed. */
export interface CaptureRow {
  experimentId: string;
  eventId: string;
  projectId: string;
  variant: string;
  instance: string | null;
  endpoint: string;
  stream: boolean;
  prompt: string;
  promptTruncated: boolean;
  answer: string | null;
  answerTruncated: boolean;
  error: string | null;
  capturedAt: Date;
  expiresAt: Date;
}

export interface CapturePage {
  items: CaptureRow[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** Rows one prune DELETE removes at most, and statements per pass (as the answer cache's retention, docs/adr/0035). */
export const CAPTURE_PRUNE_BATCH = 10_000;
export const CAPTURE_PRUNE_MAX_BATCHES = 100;

function encodeCursor(row: Pick<CaptureRow, 'capturedAt' | 'eventId'>): string {
  return Buffer.from(JSON.stringify([row.capturedAt.toISOString(), row.eventId])).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const bad = () => new ValidationFailedError([{ field: 'cursor', message: 'is not a cursor this route returned (pass nextCursor as it is)' }]);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string' || typeof value[1] !== 'string' || value[1].length > 128) throw bad();
  const at = new Date(value[0]);
  if (Number.isNaN(at.getTime())) throw bad();
  return [at, value[1]];
}

/**
 * The gateway's captures in Postgres (docs/adr/0039): written in batches by the API's capture
 * writer, paged and deleted through the API, pruned by the worker once they expire.
 */
@Injectable()
export class CaptureStore {
  private readonly logger = new Logger(CaptureStore.name);

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Inserts a batch; a row already stored (same experiment and event id) is left as it is. */
  async insert(rows: readonly CaptureRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.dataSource.createQueryBuilder().insert().into(GatewayCaptureEntity).values(rows.map((r) => ({ ...r }))).orIgnore().execute();
  }

  /** Newest first, `limit` at a time, optionally one variant's. */
  async list(experimentId: string, options: { variant?: string; cursor?: string; limit: number }): Promise<CapturePage> {
    const qb = this.dataSource
      .getRepository(GatewayCaptureEntity)
      .createQueryBuilder('c')
      .where('c.experiment_id = :experimentId', { experimentId })
      .orderBy('c.captured_at', 'DESC')
      .addOrderBy('c.event_id', 'DESC')
      .limit(options.limit + 1);
    if (options.variant !== undefined) qb.andWhere('c.variant = :variant', { variant: options.variant });
    if (options.cursor !== undefined) {
      const [at, eventId] = decodeCursor(options.cursor);
      qb.andWhere('(c.captured_at, c.event_id) < (:at, :eventId)', { at, eventId });
    }
    const rows = await qb.getMany();
    const more = rows.length > options.limit;
    const items: CaptureRow[] = rows.slice(0, options.limit);
    return { items, nextCursor: more ? encodeCursor(items[items.length - 1]) : null };
  }

  /** Deletes every capture of an experiment; returns how many. */
  async deleteAll(experimentId: string): Promise<number> {
    const [{ n }] = (await this.dataSource.query(`WITH gone AS (DELETE FROM gateway_capture WHERE experiment_id = $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`, [experimentId])) as Array<{ n: number }>;
    return n;
  }

  /** One retention pass: captures past their expires_at, in bounded batches (by ctid through the expires_at index). */
  async prune(options: { batch?: number; maxBatches?: number } = {}): Promise<{ deleted: number; batches: number; more: boolean }> {
    const batch = options.batch ?? CAPTURE_PRUNE_BATCH;
    const maxBatches = options.maxBatches ?? CAPTURE_PRUNE_MAX_BATCHES;
    let deleted = 0;
    let batches = 0;
    for (;;) {
      const [{ n }] = (await this.dataSource.query(
        `WITH gone AS (
           DELETE FROM gateway_capture
           WHERE ctid = ANY(ARRAY(SELECT ctid FROM gateway_capture WHERE expires_at < now() LIMIT $1))
             AND expires_at < now()
           RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
        [batch],
      )) as Array<{ n: number }>;
      batches++;
      deleted += n;
      if (n < batch) break;
      if (batches >= maxBatches) {
        this.logger.log({ deleted, batches }, 'gateway captures pruned (more left for the next pass)');
        return { deleted, batches, more: true };
      }
    }
    if (deleted) this.logger.log({ deleted, batches }, 'gateway captures pruned');
    return { deleted, batches, more: false };
  }
}

/** The captures' table and store, for the API (writer, routes) and the worker (retention). */
@Module({
  imports: [TypeOrmModule.forFeature(GATEWAY_ENTITIES)],
  providers: [CaptureStore],
  exports: [CaptureStore],
})
export class CaptureModule {}
