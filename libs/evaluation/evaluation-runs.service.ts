import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { type Actor, AuditService } from '../audit/audit.service';
import { ConflictError, NotFoundError, UnavailableError, ValidationFailedError } from '../errors/domain-error';
import { ExperimentsService } from '../experiments/experiments.service';
import { QueueRegistry } from '../queue/queue.module';
import { type EvaluationRunJob, JOBS, QUEUES } from '../queue/queues';
import { DatasetsService } from './datasets.service';
import { EvaluationCaseResultEntity } from './evaluation-case-result.entity';
import { EvaluationRunEntity } from './evaluation-run.entity';
import { parseRunRequest } from './run-request';

const isUuid = (s: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/** The typed producer of the evaluations queue: one job per run and generation (a resume is a new generation). */
@Injectable()
export class EvaluationProducer {
  constructor(private readonly queues: QueueRegistry) {}

  async enqueue(runId: string, generation: number): Promise<void> {
    const data: EvaluationRunJob = { runId };
    await this.queues.get(QUEUES.evaluations).add(JOBS.evaluationRun, data, {
      jobId: `evaluation-${runId}-${generation}`,
      // A crash (not an upstream failure: the run pauses for those) is retried; answered cases are never asked again.
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 1000 },
    });
  }
}

/** Progress streams open at once on one API replica (each reads its run every 0.5 s). */
const MAX_WATCHERS = 100;

/** Creating, reading, cancelling and resuming offline evaluation runs (the API side; the worker runs them: EvaluationRunner). */
@Injectable()
export class EvaluationRunsService {
  private watchers = 0;

  constructor(
    private readonly experiments: ExperimentsService,
    private readonly datasets: DatasetsService,
    private readonly audit: AuditService,
    private readonly producer: EvaluationProducer,
    @InjectRepository(EvaluationRunEntity) private readonly runs: Repository<EvaluationRunEntity>,
    @InjectRepository(EvaluationCaseResultEntity) private readonly results: Repository<EvaluationCaseResultEntity>,
  ) {}

  async create(projectId: string, actor: Actor, experimentKey: string, body: unknown): Promise<EvaluationRunEntity> {
    const { request, errors } = parseRunRequest(body);
    if (!request) throw new ValidationFailedError(errors);
    const experiment = await this.experiments.get(projectId, experimentKey);
    const control = experiment.variants.find((v) => v.isControl)?.key ?? experiment.variants[0].key;
    // Default: every variant with an upstream, except those that only judge.
    const judges = new Set(request.evaluators.flatMap((e) => (e.type === 'judge' ? [e.variant] : [])));
    const chosen = request.variants ?? experiment.variants.filter((v) => experiment.upstreams?.[v.key] && (v.key === control || !judges.has(v.key))).map((v) => v.key);
    const problems = [
      ...chosen.filter((k) => !experiment.variants.some((v) => v.key === k)).map((k) => ({ field: 'variants', message: `${k} is not a variant of ${experimentKey}` })),
      ...chosen.filter((k) => experiment.variants.some((v) => v.key === k) && !experiment.upstreams?.[k]).map((k) => ({ field: 'variants', message: `${k} has no upstream to send cases to` })),
      ...(chosen.includes(control) ? [] : [{ field: 'variants', message: `must include the control ${control}` }]),
      ...(chosen.length < 2 ? [{ field: 'variants', message: 'must hold the control and at least one candidate' }] : []),
      ...request.evaluators.flatMap((e, i) =>
        e.type === 'judge' && !experiment.upstreams?.[e.variant] ? [{ field: `evaluators.${i}.variant`, message: `${e.variant} is not a variant of ${experimentKey} with an upstream` }] : [],
      ),
    ];
    if (problems.length) throw new ValidationFailedError(problems);
    const version = await this.datasets.get(projectId, request.dataset, request.datasetVersion);
    const variants = [control, ...chosen.filter((k) => k !== control)];
    const run = await this.runs.save(
      this.runs.create({
        projectId,
        experimentId: experiment.id,
        datasetVersionId: version.id,
        status: 'queued',
        variants,
        control,
        evaluators: request.evaluators,
        repetitions: request.repetitions,
        concurrency: request.concurrency,
        maxCostUsd: request.maxCostUsd,
        margin: request.margin,
        alpha: request.alpha,
        total: variants.length * version.caseCount * request.repetitions,
        generation: 0,
        results: null,
        reason: null,
        startedAt: null,
        finishedAt: null,
      }),
    );
    await this.audit.record({ projectId, actor, action: 'evaluation.created', targetType: 'evaluation', targetId: run.id, after: { experiment: experimentKey, dataset: version.name, version: version.version, variants } });
    await this.producer.enqueue(run.id, run.generation);
    run.datasetVersion = version;
    return run;
  }

  async get(projectId: string, experimentKey: string, id: string): Promise<EvaluationRunEntity> {
    const experiment = await this.experiments.get(projectId, experimentKey);
    const run = isUuid(id) ? await this.runs.findOne({ where: { id, projectId, experimentId: experiment.id }, relations: { datasetVersion: true } }) : null;
    if (!run) throw new NotFoundError(`No evaluation run "${id}" for experiment "${experimentKey}".`);
    return run;
  }

  async list(projectId: string, experimentKey: string): Promise<EvaluationRunEntity[]> {
    const experiment = await this.experiments.get(projectId, experimentKey);
    return this.runs.find({ where: { projectId, experimentId: experiment.id }, relations: { datasetVersion: true }, order: { createdAt: 'DESC' }, take: 100 });
  }

  /** The latest finished run of an experiment (for the results page and report emails). */
  async latestDone(experimentId: string): Promise<EvaluationRunEntity | null> {
    return this.runs.findOne({ where: { experimentId, status: 'done' }, relations: { datasetVersion: true }, order: { finishedAt: 'DESC' } });
  }

  /** A page of per-case answers and scores; `failedOnly` keeps the answers some evaluator failed or errored on, or whose call failed. */
  async cases(projectId: string, experimentKey: string, id: string, query: { variant?: string; limit: number; offset: number; failedOnly: boolean }): Promise<{ items: EvaluationCaseResultEntity[]; total: number }> {
    const run = await this.get(projectId, experimentKey, id);
    const qb = this.results.createQueryBuilder('r').where('r.run_id = :id', { id: run.id });
    if (query.variant) qb.andWhere('r.variant = :variant', { variant: query.variant });
    if (query.failedOnly) qb.andWhere(`(r.error IS NOT NULL OR EXISTS (SELECT 1 FROM jsonb_each(r.scores) s WHERE s.value->>'passed' = 'false' OR s.value ? 'error'))`);
    const [items, total] = await qb.orderBy('r.position', 'ASC').addOrderBy('r.variant', 'ASC').addOrderBy('r.repetition', 'ASC').take(query.limit).skip(query.offset).getManyAndCount();
    return { items, total };
  }

  /**
   * Progress as server-sent events: a `progress` event with the run now and at every change
   * (read every `everyMs`), ending after the event that shows a status other than queued or
   * running (done, paused, failed, cancelled), or when the client goes away.
   */
  async watch(projectId: string, experimentKey: string, id: string, send: (run: EvaluationRunEntity) => boolean, closed: () => boolean, everyMs = 500): Promise<void> {
    if (this.watchers >= MAX_WATCHERS) throw new UnavailableError(`This replica serves its maximum of ${MAX_WATCHERS} evaluation progress streams; retry later.`, 5);
    this.watchers++;
    try {
      await this.follow(projectId, experimentKey, id, send, closed, everyMs);
    } finally {
      this.watchers--;
    }
  }

  private async follow(projectId: string, experimentKey: string, id: string, send: (run: EvaluationRunEntity) => boolean, closed: () => boolean, everyMs: number): Promise<void> {
    let last = '';
    for (;;) {
      const run = await this.get(projectId, experimentKey, id);
      const state = `${run.status}|${run.done}|${run.failed}|${run.costUsd}`;
      if (state !== last) {
        last = state;
        if (!send(run)) return;
      }
      if (!['queued', 'running'].includes(run.status) || closed()) return;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
      if (closed()) return;
    }
  }

  async cancel(projectId: string, actor: Actor, experimentKey: string, id: string): Promise<EvaluationRunEntity> {
    const run = await this.get(projectId, experimentKey, id);
    if (!['queued', 'running', 'paused'].includes(run.status)) throw new ConflictError(`The run is ${run.status}; only a queued, running or paused run can be cancelled.`);
    await this.runs.update({ id: run.id }, { status: 'cancelled', reason: 'cancelled on request', finishedAt: new Date() });
    await this.audit.record({ projectId, actor, action: 'evaluation.cancelled', targetType: 'evaluation', targetId: run.id });
    return this.get(projectId, experimentKey, id);
  }

  /** Resumes a paused or cancelled run: answered cases are kept, answers already paid for come from the cache. */
  async resume(projectId: string, actor: Actor, experimentKey: string, id: string): Promise<EvaluationRunEntity> {
    const run = await this.get(projectId, experimentKey, id);
    if (!['paused', 'cancelled', 'failed'].includes(run.status)) throw new ConflictError(`The run is ${run.status}; only a paused, cancelled or failed run can be resumed.`);
    const generation = run.generation + 1;
    const updated = await this.runs.update({ id: run.id, generation: run.generation }, { status: 'queued', reason: null, generation, finishedAt: null });
    if (!updated.affected) throw new ConflictError('The run was resumed by another request.');
    await this.audit.record({ projectId, actor, action: 'evaluation.resumed', targetType: 'evaluation', targetId: run.id });
    await this.producer.enqueue(run.id, generation);
    return this.get(projectId, experimentKey, id);
  }
}
