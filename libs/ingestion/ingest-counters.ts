import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { INGEST_KINDS, type IngestKind, type IngestResult } from '../observability/ingest-counter-sql';
import { OperatorMetrics } from '../observability/operator-metrics';

/**
 * Ingestion's operator metrics (GET /metrics): items stored and dead-lettered per kind since
 * the database was created (kept in Postgres, so every replica answers the same totals), and
 * the dead letters waiting for an admin. Both are read from Postgres at scrape time.
 */
@Injectable()
export class IngestCounters implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: OperatorMetrics,
  ) {}

  onModuleInit(): void {
    this.metrics.sampled({
      name: 'verdict_ingest_items_total',
      help: 'Acknowledged ingestion items by kind and result: stored, or moved to the dead-letter table (each time).',
      type: 'counter',
      labelNames: ['kind', 'result'],
      read: async () => {
        const counted: Array<{ kind: IngestKind; result: IngestResult; n: string }> = await this.dataSource.query(
          `SELECT kind, result, sum(n)::text AS n FROM ingest_counter GROUP BY 1, 2`,
        );
        const total = (kind: IngestKind, result: IngestResult) => Number(counted.find((r) => r.kind === kind && r.result === result)?.n ?? 0);
        return INGEST_KINDS.flatMap((kind) => (['stored', 'dead_lettered'] as const).map((result) => ({ labels: { kind, result }, value: total(kind, result) })));
      },
    });
    this.metrics.sampled({
      name: 'verdict_ingest_dead_letters',
      help: 'Dead letters waiting to be deleted or re-driven, by kind.',
      type: 'gauge',
      labelNames: ['kind'],
      read: async () => {
        const held: Array<{ kind: IngestKind; n: string }> = await this.dataSource.query(`SELECT kind, count(*)::text AS n FROM ingest_dead_letter GROUP BY 1`);
        return INGEST_KINDS.map((kind) => ({ labels: { kind }, value: Number(held.find((r) => r.kind === kind)?.n ?? 0) }));
      },
    });
  }
}
