import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';

/** Rows one DELETE removes at most: short statements, short locks, small WAL bursts. */
export const PRUNE_BATCH = 10_000;
/** Statements one pass runs at most (a million rows): a backlog is worked off over later passes. */
export const PRUNE_MAX_BATCHES = 100;

export interface PruneResult {
  deleted: number;
  batches: number;
  /** The pass stopped at its bound with old rows left (the next pass goes on). */
  more: boolean;
}

/**
 * Retention of the offline answer cache (`evaluation_answer`, docs/adr/0035): answers older
 * than EVAL_ANSWER_CACHE_DAYS are deleted, by age alone. Nothing else holds them: a run's
 * results keep their own copy of every answer (`evaluation_case_result`), so a pruned answer
 * only costs a new paid call if a later run (or a resumed one, for an item it had not
 * recorded) asks the same question again. Answers of deleted experiments and of variant
 * configs no run uses any more are never read again and go the same way.
 */
@Injectable()
export class AnswerCacheRetention {
  private readonly logger = new Logger(AnswerCacheRetention.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  /** One pass: batches of `batch` rows (by ctid, through the created_at index) until none is left or `maxBatches` ran. */
  async prune(options: { days?: number; batch?: number; maxBatches?: number } = {}): Promise<PruneResult> {
    const days = options.days ?? this.config.evaluation.answerCacheDays;
    const batch = options.batch ?? PRUNE_BATCH;
    const maxBatches = options.maxBatches ?? PRUNE_MAX_BATCHES;
    if (days <= 0) return { deleted: 0, batches: 0, more: false };
    // One cut-off for the whole pass, from the database's clock (the rows' created_at is its now()).
    const [{ cutoff }] = (await this.dataSource.query(`SELECT now() - make_interval(days => $1) AS cutoff`, [days])) as Array<{ cutoff: Date }>;
    let deleted = 0;
    let batches = 0;
    for (;;) {
      const [{ n: affected }] = (await this.dataSource.query(
        `WITH gone AS (
           DELETE FROM evaluation_answer
           WHERE ctid = ANY(ARRAY(SELECT ctid FROM evaluation_answer WHERE created_at < $1 LIMIT $2))
             AND created_at < $1
           RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
        [cutoff, batch],
      )) as Array<{ n: number }>;
      batches++;
      deleted += affected;
      if (affected < batch) break;
      if (batches >= maxBatches) {
        if (deleted) this.logger.log({ deleted, batches, days }, 'evaluation answer cache pruned (more left for the next pass)');
        return { deleted, batches, more: true };
      }
    }
    if (deleted) this.logger.log({ deleted, batches, days }, 'evaluation answer cache pruned');
    return { deleted, batches, more: false };
  }
}
