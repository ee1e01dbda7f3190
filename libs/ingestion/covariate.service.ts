import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { sumMetrics } from '../metrics/metric-registry';
import { checkCovariateItem, type StorableCovariate } from '../storable/storable';
import type { IngestResult } from './ingestion.service';

/** Metrics a client may give a covariate for: the built-in sum metrics (the ones with a CUPED comparison). */
export const COVARIATE_METRICS: ReadonlySet<string> = new Set(sumMetrics().map((m) => m.name));

/**
 * The latest value per (unit, metric) wins; the project's covariate version moves in the same
 * statement, so cached results are recomputed. Rows in key order: concurrent writes lock alike.
 */
const UPSERT_COVARIATES = `WITH stored AS (
    INSERT INTO unit_covariate AS c (project_id, metric, unit_id, value, updated_at)
    SELECT $1::uuid, t.metric, t.unit_id, t.value, now() FROM unnest($2::text[], $3::text[], $4::float8[]) AS t(metric, unit_id, value)
    ORDER BY t.metric, t.unit_id
    ON CONFLICT ON CONSTRAINT unit_covariate_pkey DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
    RETURNING 1
  )
  INSERT INTO unit_covariate_version AS v (project_id, version) SELECT $1::uuid, 1 FROM stored LIMIT 1
  ON CONFLICT ON CONSTRAINT unit_covariate_version_pkey DO UPDATE SET version = v.version + 1`;

/**
 * Client-supplied CUPED covariates (docs/cuped.md): a value per unit and metric known before
 * the experiment, such as a user's historical satisfaction score. Written synchronously (a
 * bounded batch, one statement): they are few and read only by the results.
 */
@Injectable()
export class CovariateService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async record(projectId: string, items: readonly unknown[]): Promise<IngestResult> {
    const latest = new Map<string, StorableCovariate>();
    const rejected: IngestResult['rejected'] = [];
    items.forEach((input, index) => {
      const checked = checkCovariateItem(input, COVARIATE_METRICS);
      if (checked.ok) latest.set(`${checked.item.metric}\u0000${checked.item.unitId}`, checked.item);
      else rejected.push({ index, errors: checked.issues });
    });
    const rows = [...latest.values()];
    if (rows.length) {
      await this.dataSource.query(UPSERT_COVARIATES, [projectId, rows.map((r) => r.metric), rows.map((r) => r.unitId), rows.map((r) => r.value)]);
    }
    return { accepted: items.length - rejected.length, rejected };
  }
}
