import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { ExperimentsService } from '../experiments/experiments.service';
import { srm, type SrmResult } from '../stats/srm';

export interface PhaseSrm extends SrmResult {
  phase: number;
  /** Exposed units per variant key in this phase. */
  counts: Record<string, number>;
  /** The effective weights the phase was configured with. */
  weights: Record<string, number>;
}

/**
 * Sample ratio mismatch per experiment and phase: exposed units per variant against
 * that phase's weights. Reads the counts kept by the exposure writer, never raw rows.
 */
@Injectable()
export class ExposureStatsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly experiments: ExperimentsService,
  ) {}

  async srmByPhase(experimentId: string): Promise<PhaseSrm[]> {
    // The phases' weights come from the experiments context; the counts are this context's own table.
    const phases = await this.experiments.phasesOf(experimentId);
    const rows: Array<{ phase: number; variant: string; units: string }> = await this.dataSource.query(
      'SELECT phase, variant, units FROM exposure_count WHERE experiment_id = $1',
      [experimentId],
    );
    return phases.map(({ phase, weights }) => {
      const keys = Object.keys(weights);
      const counts = Object.fromEntries(keys.map((k) => [k, 0]));
      for (const row of rows) if (row.phase === phase && row.variant in counts) counts[row.variant] = Number(row.units);
      return {
        phase,
        counts,
        weights,
        ...srm(
          keys.map((k) => counts[k]),
          keys.map((k) => weights[k]),
        ),
      };
    });
  }
}
