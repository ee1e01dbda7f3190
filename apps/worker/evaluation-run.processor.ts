import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { VERDICT_CONFIG, type VerdictConfig } from '../../libs/config/config';
import { AnswerCacheRetention } from '../../libs/evaluation/answer-cache-retention';
import { EvaluationRunner } from '../../libs/evaluation/evaluation-runner.service';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { type EvaluationAnswerPruneJob, type EvaluationRunJob, JOBS, QUEUES } from '../../libs/queue/queues';
import type { Processor } from './processor';

/**
 * The evaluations queue: offline evaluation runs (one job per run and resume; a run is long,
 * so a few at a time per worker) and the answer cache's prune (a job scheduler, one job per
 * interval however many workers run; docs/adr/0035).
 */
@Injectable()
export class EvaluationRunProcessor implements Processor<EvaluationRunJob | EvaluationAnswerPruneJob>, OnApplicationBootstrap {
  readonly queue = QUEUES.evaluations;
  readonly concurrency = 2;
  constructor(
    private readonly runner: EvaluationRunner,
    private readonly retention: AnswerCacheRetention,
    private readonly queues: QueueRegistry,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const queue = this.queues.get(QUEUES.evaluations);
    const { answerCacheDays, answerPruneIntervalMs } = this.config.evaluation;
    if (answerCacheDays === 0) {
      await queue.removeJobScheduler(JOBS.evaluationAnswerPrune);
      return;
    }
    const data: EvaluationAnswerPruneJob = {};
    await queue.upsertJobScheduler(JOBS.evaluationAnswerPrune, { every: answerPruneIntervalMs }, {
      name: JOBS.evaluationAnswerPrune,
      data,
      opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    });
  }

  process(job: Job<EvaluationRunJob | EvaluationAnswerPruneJob>): Promise<unknown> {
    if (job.name === JOBS.evaluationAnswerPrune) return this.retention.prune();
    if (job.name !== JOBS.evaluationRun) throw new UnrecoverableError(`unknown job name "${job.name}" on the evaluations queue`);
    return this.runner.run((job.data as EvaluationRunJob).runId);
  }
}
