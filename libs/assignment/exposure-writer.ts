import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { counterUpsert } from '../observability/ingest-counter-sql';
import type { ExposureRecord } from '../queue/queues';

/**
 * Stores exposures: the first exposure per (experiment, phase, unit) with its time;
 * repeats only raise the unit's counter. Units newly exposed are added to the
 * per-variant counts that SRM reads, in the same statement, so a replayed batch
 * never counts a unit twice; the records are counted as stored (GET /metrics) there too.
 */
@Injectable()
export class ExposureWriter {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async write(records: ExposureRecord[]): Promise<void> {
    // ON CONFLICT may touch a row only once per statement: coalesce repeats first.
    const byUnit = new Map<string, ExposureRecord & { count: number; last: string }>();
    for (const r of records) {
      const key = `${r.experimentId}\u0000${r.phase}\u0000${r.unitId}`;
      const found = byUnit.get(key);
      if (!found) byUnit.set(key, { ...r, count: r.count ?? 1, last: r.at });
      else {
        found.count += r.count ?? 1;
        if (r.at < found.at) found.at = r.at;
        if (r.at > found.last) found.last = r.at;
      }
    }
    const rows = [...byUnit.values()];
    if (rows.length === 0) return;
    await this.dataSource.query(
      `WITH incoming AS (
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::bigint[])
           AS t(experiment_id, phase, unit_id, variant, first_at, last_at, exposures)
       ), upserted AS (
         INSERT INTO exposure AS e (experiment_id, phase, unit_id, variant, first_at, last_at, exposures)
         SELECT * FROM incoming
         ON CONFLICT ON CONSTRAINT exposure_pkey DO UPDATE
           SET exposures = e.exposures + EXCLUDED.exposures,
               first_at = LEAST(e.first_at, EXCLUDED.first_at),
               last_at = GREATEST(e.last_at, EXCLUDED.last_at)
         RETURNING e.experiment_id, e.phase, e.variant, (xmax = 0) AS inserted
       ), counted AS (
         INSERT INTO exposure_count AS c (experiment_id, phase, variant, units)
         SELECT experiment_id, phase, variant, count(*) FROM upserted WHERE inserted GROUP BY 1, 2, 3
         ON CONFLICT ON CONSTRAINT exposure_count_pkey DO UPDATE SET units = c.units + EXCLUDED.units
       )
       ${counterUpsert('exposure', 'stored', '$8::int8', 'WHERE $8::int8 > 0')}`,
      [
        rows.map((r) => r.experimentId),
        rows.map((r) => r.phase),
        rows.map((r) => r.unitId),
        rows.map((r) => r.variant),
        rows.map((r) => r.at),
        rows.map((r) => r.last),
        rows.map((r) => r.count),
        records.length,
      ],
    );
  }
}
