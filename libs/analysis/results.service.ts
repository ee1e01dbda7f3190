import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { ExposureStatsService } from '../assignment/exposure-stats.service';
import { AuditService, SYSTEM_ACTOR, type Actor } from '../audit/audit.service';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { customMetric } from '../metrics/metric-registry';
import { ExperimentsService } from '../experiments/experiments.service';
import { OfflineVerdicts } from '../evaluation/offline-verdicts';
import { DecisionNotActionableError, PhaseNotFoundError } from './analysis.errors';
import { AnalysisStore } from './analysis-store';
import { DailySeriesStore, type DailySeries } from './daily-series';
import { VersionedCache } from './results-cache';
import { calculateResults } from './results-calculator';
import { shadowResults } from './shadow-results';
import type { ExperimentResults, OfflineCandidateStage, SrmSummary } from './results.types';

@Injectable()
export class ResultsService {
  private readonly cache = new VersionedCache<ExperimentResults>();
  private readonly dailyCache = new VersionedCache<DailySeries>(100);

  constructor(
    private readonly experiments: ExperimentsService,
    private readonly exposures: ExposureStatsService,
    private readonly store: AnalysisStore,
    private readonly daily: DailySeriesStore,
    private readonly audit: AuditService,
    private readonly offline: OfflineVerdicts,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Results of one phase (the latest by default: docs/adr/0006), from the aggregates, cached per data version. */
  async results(projectId: string, key: string, phase?: number): Promise<ExperimentResults> {
    const experiment = await this.experiments.get(projectId, key);
    const analysed = this.phaseOf(experiment, phase);
    // A run that finishes changes the offline stage of the decision: its version is part of the cache's.
    const [data, offline] = await Promise.all([this.store.dataVersion(experiment), this.offline.version(experiment.id)]);
    const version = `${data}|o${offline}`;
    const cacheKey = `${experiment.id}:${analysed}`;
    const cached = this.cache.get(cacheKey, version);
    if (cached) return cached;
    const results = await this.compute(experiment, analysed, version);
    this.cache.set(cacheKey, version, results);
    // Only the current phase drives the recommendation (and its audit trail).
    if (analysed === experiment.phase) await this.recordDecision(experiment, results);
    return results;
  }

  /** Cumulative estimates per day of the analysed phase, for charts. */
  async dailySeries(projectId: string, key: string, phase?: number): Promise<DailySeries> {
    const experiment = await this.experiments.get(projectId, key);
    const analysed = this.phaseOf(experiment, phase);
    const version = await this.store.dataVersion(experiment);
    const cacheKey = `${experiment.id}:${analysed}`;
    const cached = this.dailyCache.get(cacheKey, version);
    if (cached) return cached;
    const series = await this.daily.series(experiment, analysed);
    this.dailyCache.set(cacheKey, version, series);
    return series;
  }

  /**
   * Concludes with what the rule recommends: the winner when it says ship, the control
   * when it says keep_control. Anything else is refused: there is no winner to roll out.
   */
  async concludeRecommended(projectId: string, actor: Actor, key: string): Promise<ExperimentEntity> {
    const results = await this.results(projectId, key);
    const { decision } = results;
    if ((decision.action !== 'ship' && decision.action !== 'keep_control') || !decision.winner) {
      throw new DecisionNotActionableError(
        `The recommendation is "${decision.action}", which names no winner: ${decision.reasons.join(' ')} Conclude with an explicit winner to override.`,
      );
    }
    const concluded = await this.experiments.conclude(projectId, actor, key, decision.winner);
    await this.audit.record({
      projectId,
      actor,
      action: 'decision.applied',
      targetType: 'experiment',
      targetId: concluded.id,
      after: { action: decision.action, winner: decision.winner, reasons: decision.reasons, phase: results.phase, dataVersion: results.dataVersion },
    });
    return concluded;
  }

  private phaseOf(experiment: ExperimentEntity, phase?: number): number {
    if (phase === undefined) return experiment.phase;
    if (phase < 1 || phase > experiment.phase) throw new PhaseNotFoundError(`Experiment "${experiment.key}" has no phase ${phase} (phases 1..${experiment.phase}).`);
    return phase;
  }

  private async compute(experiment: ExperimentEntity, phase: number, version: string): Promise<ExperimentResults> {
    const overAllEvents = (experiment.metrics.custom ?? []).filter((c) => customMetric(c).denominator === 'events').map((c) => c.name);
    // CUPED needs units with a history: not request units, and not when the experiment turned it off.
    const withCovariates = experiment.unitType !== 'request' && experiment.stats.cuped?.mode !== 'off';
    const [arms, srmByPhase, offline, shadowRows] = await Promise.all([
      this.store.arms(experiment.id, phase, overAllEvents, withCovariates ? { projectId: experiment.projectId } : null),
      this.exposures.srmByPhase(experiment.id),
      this.offlineStages(experiment),
      this.store.shadowPairs(experiment.id),
    ]);
    const found = srmByPhase.find((s) => s.phase === phase);
    const srm: SrmSummary = found
      ? { phase, pValue: found.pValue, ok: found.ok, tested: found.tested, counts: found.counts, weights: found.weights }
      : { phase, pValue: 1, ok: true, tested: false, counts: {}, weights: {} };
    const calculated = calculateResults({ experiment, phase, arms, srm, offline });
    const { primary } = experiment.metrics;
    return {
      experiment: experiment.key,
      unitType: experiment.unitType,
      phase,
      alpha: experiment.stats.alpha,
      sequential: experiment.stats.sequential,
      primaryMetric: { name: primary.name, goal: primary.goal, margin: primary.margin ?? null },
      srm,
      ...calculated,
      shadow: shadowResults(shadowRows, experiment.shadow ?? null, experiment.stats.alpha),
      computedAt: new Date().toISOString(),
      dataVersion: version,
    };
  }

  /** The latest complete offline verdict per treatment, from runs against the current control (a run against another control says nothing of this comparison). */
  private async offlineStages(experiment: ExperimentEntity): Promise<OfflineCandidateStage[]> {
    const control = experiment.variants.find((v) => v.isControl)?.key;
    const verdicts = await this.offline.latest(experiment.id);
    return verdicts
      .filter((v) => v.control === control)
      .map((v) => ({
        variant: v.variant,
        action: v.action,
        evaluationId: v.runId,
        dataset: v.dataset,
        datasetVersion: v.datasetVersion,
        finishedAt: v.finishedAt.toISOString(),
        reasons: v.reasons,
      }));
  }

  /** Audits decision.changed when the recommended action (or winner) differs from the last one recorded. */
  private async recordDecision(experiment: ExperimentEntity, results: ExperimentResults): Promise<void> {
    const { decision } = results;
    await this.dataSource.transaction(async (manager) => {
      const [previous] = (await manager.query('SELECT action, winner, phase FROM analysis_decision WHERE experiment_id = $1 FOR UPDATE', [experiment.id])) as Array<{
        action: string;
        winner: string | null;
        phase: number;
      }>;
      const winner = decision.winner ?? null;
      if (previous && previous.action === decision.action && previous.winner === winner) return;
      const inserted = (await manager.query(
        `INSERT INTO analysis_decision AS d (experiment_id, phase, action, winner, reasons, data_version, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT ON CONSTRAINT analysis_decision_pkey DO UPDATE
         SET phase = EXCLUDED.phase, action = EXCLUDED.action, winner = EXCLUDED.winner, reasons = EXCLUDED.reasons,
             data_version = EXCLUDED.data_version, decided_at = EXCLUDED.decided_at
         WHERE d.action IS DISTINCT FROM EXCLUDED.action OR d.winner IS DISTINCT FROM EXCLUDED.winner
         RETURNING experiment_id`,
        [experiment.id, results.phase, decision.action, winner, JSON.stringify(decision.reasons), results.dataVersion],
      )) as unknown[];
      // A replica that lost the race to the same change finds nothing to update: audit once.
      if (inserted.length === 0) return;
      await this.audit.record(
        {
          projectId: experiment.projectId,
          actor: SYSTEM_ACTOR,
          action: 'decision.changed',
          targetType: 'experiment',
          targetId: experiment.id,
          before: previous ? { action: previous.action, winner: previous.winner, phase: previous.phase } : undefined,
          after: { action: decision.action, winner, reasons: decision.reasons, phase: results.phase, dataVersion: results.dataVersion },
        },
        manager,
      );
    });
  }
}
