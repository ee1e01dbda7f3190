import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { candidateVerdict, type RunResults } from './run-analysis';

/** The offline verdict on one candidate, from the latest complete run that answered it. */
export interface CandidateOfflineVerdict {
  variant: string;
  /** The control the run compared the candidate with. */
  control: string;
  action: 'ready_for_live' | 'not_ready';
  reasons: string[];
  runId: string;
  dataset: string;
  datasetVersion: number;
  finishedAt: Date;
}

/**
 * The offline stage's read model for the live decision (docs/adr/0035): per candidate variant
 * of an experiment, the latest run that finished `done` and complete (not partial: a run
 * stopped at its cost cap is no verdict) and answered that candidate. One indexed query.
 */
@Injectable()
export class OfflineVerdicts {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async latest(experimentId: string): Promise<CandidateOfflineVerdict[]> {
    const rows = (await this.dataSource.query(
      `SELECT DISTINCT ON (v.variant) v.variant, r.id, r.control, r.finished_at, r.results, d.name, d.version
       FROM evaluation_run r
       CROSS JOIN LATERAL jsonb_array_elements_text(r.variants) AS v(variant)
       JOIN dataset_version d ON d.id = r.dataset_version_id
       WHERE r.experiment_id = $1 AND r.status = 'done' AND NOT r.partial AND r.results IS NOT NULL AND v.variant <> r.control
       ORDER BY v.variant, r.finished_at DESC, r.id`,
      [experimentId],
    )) as Array<{ variant: string; id: string; control: string; finished_at: Date; results: RunResults; name: string; version: number }>;
    return rows.map((r) => ({
      variant: r.variant,
      control: r.control,
      ...candidateVerdict(r.results, r.variant, false),
      runId: r.id,
      dataset: r.name,
      datasetVersion: r.version,
      finishedAt: r.finished_at,
    }));
  }

  /** Changes whenever a run of the experiment finishes done (the results cache keys on it). */
  async version(experimentId: string): Promise<string> {
    const [row] = (await this.dataSource.query(
      `SELECT concat_ws(':', count(*), max(finished_at)) AS v FROM evaluation_run WHERE experiment_id = $1 AND status = 'done'`,
      [experimentId],
    )) as Array<{ v: string }>;
    return row?.v ?? '0';
  }
}

