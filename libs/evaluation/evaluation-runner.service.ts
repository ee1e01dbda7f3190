import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, type Repository } from 'typeorm';
import { ExperimentsService } from '../experiments/experiments.service';
import type { Pricing, Upstream } from '../experiments/experiment.types';
import type { DatasetCaseEntity } from './dataset-case.entity';
import { DatasetsService } from './datasets.service';
import { EvaluationAnswerEntity } from './evaluation-answer.entity';
import { EvaluationCaseResultEntity } from './evaluation-case-result.entity';
import { EvaluationRunEntity } from './evaluation-run.entity';
import { type EvaluatorOutcome, evaluate } from './evaluators';
import { judgeMessages, parseJudgeAnswer } from './judge';
import { analyseRun, type CaseRow } from './run-analysis';
import { EVALUATION_CALLER } from './evaluation-caller';
import { messagesHash, type ModelAnswer, UpstreamCallError, UpstreamCaller, upstreamConfigHash } from './upstream-caller';

interface Item {
  variant: string;
  c: DatasetCaseEntity;
  repetition: number;
}

type Stop = { kind: 'pause' | 'cancel' | 'cost'; reason: string };

interface Answered {
  answer: ModelAnswer;
  costUsd: number | null;
  cached: boolean;
}

function costOf(pricing: Pricing | null, a: { inputTokens: number | null; outputTokens: number | null }): number | null {
  if (!pricing || a.inputTokens === null || a.outputTokens === null) return null;
  return (a.inputTokens * pricing.inputPer1M + a.outputTokens * pricing.outputPer1M) / 1e6;
}

/**
 * Runs an offline evaluation (the worker side, one BullMQ job per run and generation):
 * every case of the dataset version, `repetitions` times, to every chosen variant through
 * its upstream, `concurrency` calls at a time; each answer scored by the evaluators and
 * stored with its latency, TTFT, tokens and cost. Answers are cached by (variant config
 * hash, messages hash, repetition) before anything else happens with them, so a resumed run,
 * a job retried after a crash or a later run never pays twice for the same answer.
 * Stops: cancel (read back from the run row after every answer), an upstream that stays
 * unavailable (the run pauses with the reason), and the cost cap (no new paid call once the
 * run's cost reaches it; calls in flight finish: the overshoot is bounded by `concurrency`
 * answers). docs/adr/0029.
 */
@Injectable()
export class EvaluationRunner {
  private readonly logger = new Logger(EvaluationRunner.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly experiments: ExperimentsService,
    private readonly datasets: DatasetsService,
    @Inject(EVALUATION_CALLER) private readonly caller: UpstreamCaller,
    @InjectRepository(EvaluationRunEntity) private readonly runs: Repository<EvaluationRunEntity>,
    @InjectRepository(EvaluationAnswerEntity) private readonly answers: Repository<EvaluationAnswerEntity>,
    @InjectRepository(EvaluationCaseResultEntity) private readonly results: Repository<EvaluationCaseResultEntity>,
  ) {}

  async run(runId: string): Promise<{ status: string }> {
    const claimed: { status: string }[] = await this.runs.query(
      `UPDATE evaluation_run SET status = 'running', started_at = coalesce(started_at, now()) WHERE id = $1 AND status IN ('queued', 'running') RETURNING status`,
      [runId],
    );
    if (!claimed.length) return { status: 'skipped' };
    const run = await this.runs.findOneByOrFail({ id: runId });
    const experiment = await this.experiments.getById(run.experimentId);
    const upstreams: Record<string, Upstream> = experiment.upstreams ?? {};
    const pricing = new Map(experiment.variants.map((v) => [v.key, v.pricing]));
    for (const key of [...run.variants, ...run.evaluators.flatMap((e) => (e.type === 'judge' ? [e.variant] : []))]) {
      if (!upstreams[key]) return this.finish(run, { status: 'failed', reason: `variant ${key} has no upstream any more` });
    }
    const cases = await this.datasets.allCases(run.datasetVersionId);
    const done: { variant: string; position: number; repetition: number }[] = await this.runs.query(
      `SELECT variant, position, repetition FROM evaluation_case_result WHERE run_id = $1`,
      [runId],
    );
    const seen = new Set(done.map((d) => `${d.variant}|${d.position}|${d.repetition}`));
    const items: Item[] = [];
    for (const c of cases) {
      for (let repetition = 0; repetition < run.repetitions; repetition++) {
        for (const variant of run.variants) if (!seen.has(`${variant}|${c.position}|${repetition}`)) items.push({ variant, c, repetition });
      }
    }

    let costSoFar = run.costUsd;
    let stop: Stop | null = null;
    const abort = new AbortController();
    const halt = (s: Stop): void => {
      if (!stop) {
        stop = s;
        if (s.kind !== 'cost') abort.abort();
      }
    };
    const overCap = (): boolean => run.maxCostUsd !== null && costSoFar >= run.maxCostUsd;

    /** The answer from the cache, or paid for (and cached at once); null when the cost cap forbids paying. */
    // Identical calls in flight at once (two variants' answers judged alike) share one paid call.
    const inFlight = new Map<string, Promise<Answered | null>>();
    const answerFor = (upstream: Upstream, price: Pricing | null, messages: DatasetCaseEntity['messages'], caseKey: string, repetition: number): Promise<Answered | null> => {
      const key = { projectId: run.projectId, configHash: upstreamConfigHash(upstream), caseHash: messagesHash(messages), repetition };
      const id = `${key.configHash}|${key.caseHash}|${repetition}`;
      const pending = inFlight.get(id);
      if (pending) return pending.then((a) => (a ? { ...a, cached: true } : null));
      const call = answerOnce(key, upstream, price, messages, caseKey).finally(() => inFlight.delete(id));
      inFlight.set(id, call);
      return call;
    };
    const answerOnce = async (
      key: { projectId: string; configHash: string; caseHash: string; repetition: number },
      upstream: Upstream,
      price: Pricing | null,
      messages: DatasetCaseEntity['messages'],
      caseKey: string,
    ): Promise<Answered | null> => {
      const hit = await this.answers.findOneBy(key);
      if (hit) {
        return { answer: { text: hit.answer, latencyMs: hit.latencyMs, ttftMs: hit.ttftMs, inputTokens: hit.inputTokens, outputTokens: hit.outputTokens }, costUsd: hit.costUsd, cached: true };
      }
      if (overCap()) {
        halt({ kind: 'cost', reason: `the cost cap of ${run.maxCostUsd} USD was reached` });
        return null;
      }
      const answer = await this.caller.complete(upstream, messages, caseKey, { signal: abort.signal });
      const costUsd = costOf(price, answer);
      costSoFar += costUsd ?? 0;
      await this.answers.createQueryBuilder().insert().values({ ...key, answer: answer.text, latencyMs: answer.latencyMs, ttftMs: answer.ttftMs, inputTokens: answer.inputTokens, outputTokens: answer.outputTokens, costUsd }).orIgnore().execute();
      return { answer, costUsd, cached: false };
    };

    const work = async (item: Item): Promise<void> => {
      const upstream = upstreams[item.variant];
      let answered: Answered | null;
      let callError: string | null = null;
      let paid = 0;
      try {
        answered = await answerFor(upstream, pricing.get(item.variant) ?? null, item.c.messages, `${item.c.caseId}|${item.repetition}`, item.repetition);
        if (!answered) return;
        if (!answered.cached) paid += answered.costUsd ?? 0;
      } catch (error) {
        if (error instanceof UpstreamCallError && error.kind === 'rejected') {
          answered = null;
          callError = error.message;
        } else {
          halt({ kind: 'pause', reason: `variant ${item.variant}: ${(error as Error).message}` });
          return;
        }
      }
      const scores: Record<string, EvaluatorOutcome> = {};
      if (answered) {
        for (const e of run.evaluators) {
          if (e.type !== 'judge') {
            scores[e.name] = evaluate(e, { answer: answered.answer.text, reference: item.c.reference ?? undefined, schema: item.c.schema ?? undefined });
            continue;
          }
          const messages = judgeMessages(e, { messages: item.c.messages, answer: answered.answer.text, reference: item.c.reference ?? undefined });
          try {
            const verdict = await answerFor(upstreams[e.variant], pricing.get(e.variant) ?? null, messages, `judge|${item.c.caseId}`, 0);
            if (!verdict) return;
            if (!verdict.cached) paid += verdict.costUsd ?? 0;
            scores[e.name] = parseJudgeAnswer(e, verdict.answer.text);
          } catch (error) {
            if (error instanceof UpstreamCallError && error.kind === 'rejected') {
              scores[e.name] = { passed: null, score: null, error: `the judge call failed: ${error.message}` };
            } else {
              halt({ kind: 'pause', reason: `judge ${e.variant}: ${(error as Error).message}` });
              return;
            }
          }
        }
      }
      const a = answered?.answer;
      const status: { status: string }[] = await this.runs.query(
        `WITH ins AS (
           INSERT INTO evaluation_case_result (run_id, variant, position, repetition, case_id, answer, error, cached, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, scores)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING RETURNING 1)
         UPDATE evaluation_run SET done = done + (SELECT count(*) FROM ins)::int,
           failed = failed + CASE WHEN EXISTS (SELECT 1 FROM ins) AND $7::text IS NOT NULL THEN 1 ELSE 0 END,
           cost_usd = cost_usd + $15
         WHERE id = $1 RETURNING status`,
        [run.id, item.variant, item.c.position, item.repetition, item.c.caseId, a?.text ?? null, callError, answered?.cached ?? false, a?.latencyMs ?? null, a?.ttftMs ?? null, a?.inputTokens ?? null, a?.outputTokens ?? null, answered?.costUsd ?? null, JSON.stringify(scores), paid],
      );
      if (status[0]?.status === 'cancelled') halt({ kind: 'cancel', reason: 'cancelled on request' });
    };

    let next = 0;
    const lane = async (): Promise<void> => {
      while (!stop && next < items.length) await work(items[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(run.concurrency, Math.max(1, items.length)) }, lane));

    const stopped = stop as Stop | null;
    if (stopped?.kind === 'cancel') return { status: 'cancelled' };
    if (stopped?.kind === 'pause') return this.finish(run, { status: 'paused', reason: stopped.reason });
    return this.finish(run, { status: 'done', reason: stopped?.reason ?? null, partial: stopped?.kind === 'cost' });
  }

  private async finish(run: EvaluationRunEntity, end: { status: 'done' | 'paused' | 'failed'; reason: string | null; partial?: boolean }): Promise<{ status: string }> {
    let results = null;
    if (end.status === 'done') {
      const rows = await this.results.find({ where: { runId: run.id } });
      const caseRows: CaseRow[] = rows.map((r) => ({
        variant: r.variant,
        position: r.position,
        caseId: r.caseId,
        repetition: r.repetition,
        latencyMs: r.latencyMs,
        ttftMs: r.ttftMs,
        costUsd: r.costUsd,
        inputTokens: r.inputTokens,
        outputTokens: r.outputTokens,
        error: r.error,
        scores: r.scores,
      }));
      results = analyseRun({ control: run.control, variants: run.variants, evaluators: run.evaluators, rows: caseRows, repetitions: run.repetitions, margin: run.margin, alpha: run.alpha, partial: end.partial ?? false });
    }
    // Never overwrite a cancel that arrived meanwhile.
    const updated: unknown[] = await this.runs.query(
      `UPDATE evaluation_run SET status = $2, reason = $3, partial = $4, results = $5, finished_at = CASE WHEN $2 = 'paused' THEN NULL ELSE now() END WHERE id = $1 AND status = 'running' RETURNING id`,
      [run.id, end.status, end.reason, end.partial ?? false, results === null ? null : JSON.stringify(results)],
    );
    if (updated.length) this.logger.log({ runId: run.id, status: end.status, reason: end.reason }, 'evaluation run stopped');
    return { status: end.status };
  }
}
