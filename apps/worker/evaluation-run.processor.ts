import { Injectable } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { EvaluationRunner } from '../../libs/evaluation/evaluation-runner.service';
import { type EvaluationRunJob, JOBS, QUEUES } from '../../libs/queue/queues';
import type { Processor } from './processor';

/** Runs offline evaluation runs (one job per run and resume); a run is long, so a few at a time per worker. */
@Injectable()
export class EvaluationRunProcessor implements Processor<EvaluationRunJob> {
  readonly queue = QUEUES.evaluations;
  readonly concurrency = 2;
  constructor(private readonly runner: EvaluationRunner) {}

  process(job: Job<EvaluationRunJob>): Promise<unknown> {
    if (job.name !== JOBS.evaluationRun) throw new UnrecoverableError(`unknown job name "${job.name}" on the evaluations queue`);
    return this.runner.run(job.data.runId);
  }
}
