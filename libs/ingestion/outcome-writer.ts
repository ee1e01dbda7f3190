import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { FeedbackBatchJob, FeedbackRecord, OutcomeBatchJob, OutcomeRecord } from '../queue/queues';
import { DAILY_STAT_COLUMNS, DAILY_SUM_COLUMNS, type DailySums, zeroSums } from './daily-aggregate';
import {
  AggregateDeltas,
  effectiveQuality,
  INTEGER_UNIT_COLUMNS,
  nonFiniteDelta,
  UNIT_COLUMNS,
  unitKeyOf,
  type Quality,
  type UnitColumn,
  type UnitKey,
} from './outcome-aggregator';
import { copyInto, copyText } from '../database/copy-rows';
import { counterUpsert } from '../observability/ingest-counter-sql';
import { dataErrorReason, UnstorableDataError } from './poison-isolation';
import { DEFAULT_CUPED } from '../experiments/experiment-definition';
import { BASELINE_EXPERIMENT_ID } from '../storable/storable';
import { BASELINE_COLUMNS, PRE_COLUMNS } from './baseline-columns';
import { CUPED_SUMS, cupedRows, type UnitAfter } from './cuped-aggregate';

/**
 * Batches reach Postgres by COPY (text format) into temporary staging tables of the
 * connection, then move with INSERT ... SELECT: Postgres reads COPY text several times
 * faster than it parses the same rows from a JSON parameter, which was half the cost of the
 * write (docs/adr/0004, "Figures"). The tables empty themselves at every commit.
 */
const STAGING_EVENT = 'verdict_staging_event';
const STAGING_UNIT = 'verdict_staging_unit';
/** An event with the job it came in: batches of several jobs (and projects) are written together. */
type StagedEvent = { job: OutcomeBatchJob; e: OutcomeRecord };
const EVENT_COLUMNS: ReadonlyArray<[string, string, (e: OutcomeRecord) => unknown]> = [
  ['experiment_id', 'uuid', (e) => e.experimentId],
  ['event_id', 'text', (e) => e.eventId],
  ['occurred_at', 'timestamptz', (e) => e.at],
  ['phase', 'int', (e) => e.phase],
  ['unit_id', 'text', (e) => e.unitId],
  ['variant', 'text', (e) => e.variant],
  ['latency_ms', 'float8', (e) => e.latencyMs],
  ['ttft_ms', 'float8', (e) => e.ttftMs],
  ['input_tokens', 'int8', (e) => e.inputTokens],
  ['output_tokens', 'int8', (e) => e.outputTokens],
  ['cost_usd', 'float8', (e) => e.costUsd],
  ['cost_computed', 'bool', (e) => e.costComputed],
  ['success', 'bool', (e) => e.success],
  ['score', 'float8', (e) => e.score],
  ['error', 'text', (e) => e.error],
  ['metrics', 'jsonb', (e) => e.metrics],
];
const STAGED_FIELDS: ReadonlyArray<(s: StagedEvent) => unknown> = [
  ...EVENT_COLUMNS.map(([, , get]) => (s: StagedEvent) => get(s.e)),
  (s) => s.job.projectId,
  (s) => s.job.receivedAt,
];
const EVENT_COLUMN_NAMES = EVENT_COLUMNS.map((c) => c[0]).join(', ');
type UnitRow = { key: UnitKey; v: Record<UnitColumn, number>; firstAt: string | null };
const UNIT_FIELDS: ReadonlyArray<(u: UnitRow) => unknown> = [
  (u) => u.key.experimentId,
  (u) => u.key.phase,
  (u) => u.key.variant,
  (u) => u.key.unitId,
  ...UNIT_COLUMNS.map((c) => (u: UnitRow) => u.v[c]),
  (u) => u.firstAt,
];
const PREPARE_STAGING = [
  `SET LOCAL client_min_messages = warning`,
  `CREATE TEMP TABLE IF NOT EXISTS ${STAGING_EVENT} (${EVENT_COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ')}, project_id uuid, received_at timestamptz) ON COMMIT DELETE ROWS`,
  `CREATE TEMP TABLE IF NOT EXISTS ${STAGING_UNIT} (experiment_id uuid, phase int, variant text, unit_id text, ${UNIT_COLUMNS.map(
    (c) => `${c} ${INTEGER_UNIT_COLUMNS.has(c) ? 'int8' : 'float8'}`,
  ).join(', ')}, first_at timestamptz) ON COMMIT DELETE ROWS`,
].join('; ');

/**
 * One statement stores the staged batch idempotently: the keys go in with ON CONFLICT DO
 * NOTHING, and only the rows that actually went in reach the raw, partitioned table
 * (docs/adr/0004). Keys are inserted in primary-key order, so concurrent batches lock alike.
 * It answers with a count, not the rows: almost always every staged event is new, and
 * reading 2,000 returned rows cost the worker more than the statement saved.
 */
const INSERT_EVENTS = `WITH k AS (
    INSERT INTO outcome_event_key (experiment_id, event_id, project_id, occurred_at, phase, unit_id, variant, success, score, metrics, cost_usd)
    SELECT experiment_id, event_id, project_id, occurred_at, phase, unit_id, variant, success, score, metrics, cost_usd
    FROM ${STAGING_EVENT} ORDER BY project_id, event_id, experiment_id
    ON CONFLICT ON CONSTRAINT outcome_event_key_pkey DO NOTHING
    RETURNING project_id, experiment_id, event_id
  ),
  r AS (
    INSERT INTO outcome_event (${EVENT_COLUMN_NAMES}, received_at)
    SELECT ${EVENT_COLUMNS.map((c) => `s.${c[0]}`).join(', ')}, s.received_at
    FROM ${STAGING_EVENT} s JOIN k USING (project_id, experiment_id, event_id)
  ),
  baseline AS (
    INSERT INTO baseline_unit_day AS b (project_id, unit_id, day, ${BASELINE_COLUMNS.map((c) => c[0]).join(', ')})
    SELECT s.project_id, s.unit_id, (s.occurred_at AT TIME ZONE 'UTC')::date, ${BASELINE_COLUMNS.map((c) => c[1]).join(', ')}
    FROM ${STAGING_EVENT} s JOIN k USING (project_id, experiment_id, event_id)
    WHERE s.experiment_id <> ALL($1::uuid[])
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT ON CONSTRAINT baseline_unit_day_pkey DO UPDATE SET ${BASELINE_COLUMNS.map(([c]) => `${c} = b.${c} + EXCLUDED.${c}`).join(', ')}
  )
  SELECT count(*)::int AS n FROM k`;

/** When some staged events were already stored: the ones this transaction inserted (their key rows carry its id). */
const NEW_EVENTS = `SELECT k.experiment_id, k.event_id FROM ${STAGING_EVENT} s
  JOIN outcome_event_key k ON k.project_id = s.project_id AND k.event_id = s.event_id AND k.experiment_id = s.experiment_id
  WHERE k.xmin = pg_current_xact_id()::xid`;

/**
 * What the upsert returns beyond the daily aggregate's sums, for units with a covariate only (CUPED): every
 * metric's numerator and denominator after the write and the unit's pre-exposure sums, as one float8 array
 * (null for the others). Seventeen more columns on every returned row cost the writer a tenth of its time.
 */
const CUPED_AFTER = PRE_COLUMNS.filter((c) => !(DAILY_SUM_COLUMNS as readonly string[]).includes(c));
const CUPED_RETURNED = [...CUPED_AFTER, ...PRE_COLUMNS.map((c) => `pre_${c}`)];

/**
 * Staged unit deltas added to the per-unit sums, in key order; returns the new sums the daily aggregate needs.
 * A unit's first row also takes its CUPED covariates (docs/adr/0026): the baseline sums of the lookback
 * window before its first exposure (or, when no exposure is stored, its first event here). Later rows
 * leave them as they are. A unit without history keeps nulls (no room in the row), not zeros.
 */
const UPSERT_UNITS = `INSERT INTO outcome_unit AS u (experiment_id, phase, variant, unit_id, ${UNIT_COLUMNS.join(', ')}, has_pre, ${PRE_COLUMNS.map((c) => `pre_${c}`).join(', ')})
  SELECT s.experiment_id, s.phase, s.variant, s.unit_id, ${UNIT_COLUMNS.map((c) => `s.${c}`).join(', ')},
    COALESCE(p.days > 0, false), ${PRE_COLUMNS.map((c) => `p.${c}`).join(', ')}
  FROM ${STAGING_UNIT} s
  LEFT JOIN experiment e ON e.id = s.experiment_id
  LEFT JOIN LATERAL (
    SELECT w.anchor - COALESCE((e.stats -> 'cuped' ->> 'lookbackDays')::int, ${DEFAULT_CUPED.lookbackDays}) AS since, w.anchor
    FROM (SELECT (LEAST(
      (SELECT x.first_at FROM exposure x WHERE x.experiment_id = s.experiment_id AND x.phase = s.phase AND x.unit_id = s.unit_id),
      s.first_at, now()) AT TIME ZONE 'UTC')::date AS anchor OFFSET 0) w
    -- Only a unit's first row takes a covariate: one probe of the page the upsert reads next, instead of two lookups.
    -- Conditions inside the subqueries (not in ON) gate them: an existing unit's row skips the exposure and baseline probes.
    -- OFFSET 0 keeps the planner from flattening them (it would probe the exposure for every row, twice).
    WHERE e.unit_type <> 'request'
      AND NOT EXISTS (SELECT 1 FROM outcome_unit o WHERE o.experiment_id = s.experiment_id AND o.phase = s.phase AND o.variant = s.variant AND o.unit_id = s.unit_id)
    OFFSET 0
  ) a ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS days, ${PRE_COLUMNS.map((c) => `sum(b.${c}) AS ${c}`).join(', ')}
    FROM baseline_unit_day b
    WHERE a.anchor IS NOT NULL AND b.project_id = e.project_id AND b.unit_id = s.unit_id AND b.day >= a.since AND b.day < a.anchor
  ) p ON true
  ORDER BY s.experiment_id, s.phase, s.variant, s.unit_id
  ON CONFLICT ON CONSTRAINT outcome_unit_pkey DO UPDATE SET ${UNIT_COLUMNS.map((c) => `${c} = u.${c} + EXCLUDED.${c}`).join(', ')}
  RETURNING experiment_id, phase, variant, unit_id, ${DAILY_SUM_COLUMNS.join(', ')},
    CASE WHEN has_pre THEN ARRAY[${CUPED_RETURNED.join(', ')}]::float8[] END AS cuped`;

/**
 * Shadow outcomes (docs/adr/0031) go to shadow_outcome only: no outcome_event, no aggregate,
 * no baseline, so nothing served ever counts them. Idempotent on the event id and on the
 * served call's id (one shadow copy per served call); the experiment's data version is bumped
 * so that cached results see them.
 */
const INSERT_SHADOWS = `WITH s AS (
    INSERT INTO shadow_outcome (experiment_id, event_id, paired_event_id, project_id, occurred_at, phase, unit_id, variant,
      latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, success, error, exact_match, json_match, received_at)
    SELECT * FROM json_to_recordset($1::json) AS t(experiment_id uuid, event_id text, paired_event_id text, project_id uuid,
      occurred_at timestamptz, phase int, unit_id text, variant text, latency_ms float8, ttft_ms float8, input_tokens int8,
      output_tokens int8, cost_usd float8, success bool, error text, exact_match bool, json_match bool, received_at timestamptz)
    ORDER BY experiment_id, event_id
    ON CONFLICT DO NOTHING
    RETURNING experiment_id
  ),
  versions AS (
    INSERT INTO outcome_version AS v (experiment_id, version)
    SELECT DISTINCT experiment_id, 1 FROM s
    ON CONFLICT ON CONSTRAINT outcome_version_pkey DO UPDATE SET version = v.version + 1
  )
  SELECT count(*)::int AS n FROM s`;

const UNIT_TYPES = `SELECT id, unit_type FROM experiment WHERE id = ANY($1::uuid[])`;

/**
 * The per-variant aggregates of a batch in one statement (one round trip, not four: on small
 * batches the round trips cost the worker more than the rows): moments, latency histograms,
 * per-unit custom metrics, the daily statistics (docs/adr/0013) and a bump of each written
 * experiment's data version, which the results cache is keyed by (docs/adr/0019). Each arrives in key order.
 */
const UPSERT_AGGREGATES = `WITH moments AS (
    INSERT INTO outcome_moment AS m (experiment_id, phase, variant, metric, n, sum, sumsq)
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::int8[], $6::float8[], $7::float8[])
    ON CONFLICT ON CONSTRAINT outcome_moment_pkey DO UPDATE
      SET n = m.n + EXCLUDED.n, sum = m.sum + EXCLUDED.sum, sumsq = m.sumsq + EXCLUDED.sumsq
  ),
  histograms AS (
    INSERT INTO outcome_histogram AS h (experiment_id, phase, variant, metric, bucket, count)
    SELECT * FROM unnest($8::uuid[], $9::int[], $10::text[], $11::text[], $12::int[], $13::int8[])
    ON CONFLICT ON CONSTRAINT outcome_histogram_pkey DO UPDATE SET count = h.count + EXCLUDED.count
  ),
  unit_metrics AS (
    INSERT INTO outcome_unit_metric AS u (experiment_id, phase, variant, unit_id, metric, n, sum, sumsq)
    SELECT * FROM unnest($14::uuid[], $15::int[], $16::text[], $17::text[], $18::text[], $19::int8[], $20::float8[], $21::float8[])
    ON CONFLICT ON CONSTRAINT outcome_unit_metric_pkey DO UPDATE
      SET n = u.n + EXCLUDED.n, sum = u.sum + EXCLUDED.sum, sumsq = u.sumsq + EXCLUDED.sumsq
  ),
  daily AS (
    INSERT INTO outcome_daily AS d (experiment_id, phase, variant, day, new_units, events, ${DAILY_STAT_COLUMNS.join(', ')})
    SELECT * FROM json_to_recordset($22::json) AS t(experiment_id uuid, phase int, variant text, day date, new_units int8, events int8,
      ${DAILY_STAT_COLUMNS.map((c) => `${c} float8`).join(', ')})
    ON CONFLICT ON CONSTRAINT outcome_daily_pkey DO UPDATE
      SET ${['new_units', 'events', ...DAILY_STAT_COLUMNS].map((c) => `${c} = d.${c} + EXCLUDED.${c}`).join(', ')}
  ),
  counted AS (${counterUpsert('outcome', 'stored', '$23::int8', 'WHERE $23::int8 > 0')}),
  versions AS (
    INSERT INTO outcome_version AS v (experiment_id, version)
    SELECT unnest($24::uuid[]), 1
    ON CONFLICT ON CONSTRAINT outcome_version_pkey DO UPDATE SET version = v.version + 1
  ),
  cuped AS (
    INSERT INTO outcome_cuped AS c (experiment_id, phase, variant, metric, with_pre, ${CUPED_SUMS.join(', ')})
    SELECT * FROM json_to_recordset($25::json) AS t(experiment_id uuid, phase int, variant text, metric text, with_pre int8,
      ${CUPED_SUMS.map((c) => `${c} float8`).join(', ')})
    ON CONFLICT ON CONSTRAINT outcome_cuped_pkey DO UPDATE
      SET ${['with_pre', ...CUPED_SUMS].map((c) => `${c} = c.${c} + EXCLUDED.${c}`).join(', ')}
  )
  SELECT 1`;

/** Stores the latest feedback per event; what is new or changed is counted as stored, in the same statement. */
const UPSERT_FEEDBACK = `WITH stored AS (
    INSERT INTO outcome_feedback AS f (project_id, event_id, success, score, metrics, hash, received_at)
    SELECT $1::uuid, * , $7::timestamptz FROM unnest($2::text[], $3::bool[], $4::float8[], $5::jsonb[], $6::text[])
    ON CONFLICT ON CONSTRAINT outcome_feedback_pkey DO UPDATE
      SET success = EXCLUDED.success, score = EXCLUDED.score, metrics = EXCLUDED.metrics, hash = EXCLUDED.hash, received_at = EXCLUDED.received_at
      WHERE f.hash <> EXCLUDED.hash
    RETURNING 1
  )
  ${counterUpsert('feedback', 'stored', 'count(*)', 'FROM stored HAVING count(*) > 0')}`;

/** Forgets stored feedback that could not be applied (it is dead-lettered): only that version, by its hash. */
const DISCARD_FEEDBACK = `DELETE FROM outcome_feedback WHERE project_id = $1 AND event_id = ANY($2::text[]) AND hash = ANY($3::text[])`;

const ANY_FEEDBACK = `SELECT 1 FROM outcome_feedback WHERE project_id = $1 AND event_id = ANY($2::text[]) LIMIT 1`;

/** Events whose applied feedback differs from the latest stored feedback; both rows locked, so each change applies once. */
const PENDING_FEEDBACK = `SELECT k.experiment_id, k.event_id, k.phase, k.unit_id, k.variant, k.occurred_at, k.cost_usd, e.unit_type,
    k.success, k.score, k.metrics,
    k.fb_success, k.fb_score, k.fb_metrics, f.success AS new_success, f.score AS new_score, f.metrics AS new_metrics, f.hash,
    e.metrics -> 'scoreRange' AS score_range, e.metrics -> 'custom' AS custom
  FROM outcome_feedback f
  JOIN outcome_event_key k ON k.project_id = f.project_id AND k.event_id = f.event_id
  JOIN experiment e ON e.id = k.experiment_id
  WHERE f.project_id = $1 AND f.event_id = ANY($2::text[]) AND k.feedback_hash IS DISTINCT FROM f.hash
  ORDER BY k.event_id, k.experiment_id
  FOR UPDATE OF k, f`;

const MARK_FEEDBACK = `UPDATE outcome_event_key k
  SET feedback_hash = t.hash, fb_success = t.success, fb_score = t.score, fb_metrics = t.metrics
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::float8[], $6::jsonb[]) AS t(experiment_id, event_id, hash, success, score, metrics)
  WHERE k.project_id = $7 AND k.event_id = t.event_id AND k.experiment_id = t.experiment_id`;

interface PendingFeedbackRow {
  experiment_id: string;
  event_id: string;
  phase: number;
  unit_id: string;
  variant: string;
  occurred_at: Date;
  cost_usd: number | null;
  unit_type: string;
  success: boolean | null;
  score: number | null;
  metrics: Record<string, number> | null;
  fb_success: boolean | null;
  fb_score: number | null;
  fb_metrics: Record<string, number> | null;
  new_success: boolean | null;
  new_score: number | null;
  new_metrics: Record<string, number> | null;
  hash: string;
  score_range: { min: number; max: number } | null;
  custom: Array<{ name: string }> | null;
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
const byKey = <T>(rows: Iterable<[string, T]>): T[] => [...rows].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((r) => r[1]);

/**
 * Writes outcome batches and late feedback to Postgres. Raw rows and every aggregate
 * change commit in one transaction, and aggregates only count rows that were new,
 * so a retried or repeated batch adds nothing. Rows are sorted by key before each
 * upsert so that concurrent batches lock in the same order (no deadlocks).
 */
@Injectable()
export class OutcomeWriter {
  private readonly logger = new Logger(OutcomeWriter.name);
  /** Unit type per experiment id: fixed once an experiment starts, and only running experiments take events. */
  private readonly unitTypes = new Map<string, string>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * A transaction whose connection has the staging tables. BEGIN and the staging set-up go in
   * one round trip, and every transaction repeats the set-up: a rolled-back transaction (which
   * drops a table it created) cannot leave a connection without them.
   */
  private async inStagingTransaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.connect();
      await runner.query(`BEGIN; ${PREPARE_STAGING}`);
      const result = await work(runner.manager);
      await runner.query('COMMIT');
      return result;
    } catch (error) {
      // A broken connection cannot roll back; the server ends its transaction when the connection closes.
      await runner.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  private async requestUnitExperiments(manager: EntityManager, experimentIds: Iterable<string>): Promise<Set<string>> {
    const ids = [...new Set(experimentIds)];
    const missing = ids.filter((id) => !this.unitTypes.has(id));
    if (missing.length) {
      const rows: Array<{ id: string; unit_type: string }> = await manager.query(UNIT_TYPES, [missing]);
      for (const r of rows) this.unitTypes.set(r.id, r.unit_type);
    }
    return new Set(ids.filter((id) => this.unitTypes.get(id) === 'request'));
  }

  /** Writes one batch; see writeBatches. */
  async writeEvents(job: OutcomeBatchJob): Promise<{ inserted: number }> {
    return this.writeBatches([job]);
  }

  /**
   * Writes the events of several batches (of any projects) in one transaction: the worker
   * hands over every job it holds, so small jobs (single-event requests) share the per-write
   * cost of round trips and the commit.
   */
  async writeBatches(jobs: readonly OutcomeBatchJob[]): Promise<{ inserted: number }> {
    // One row per (experiment, event id): a key inserted twice in one statement would write two raw rows.
    // An experiment belongs to one project, so the pair identifies the event across jobs too.
    const unique = new Map<string, StagedEvent>();
    const shadows = new Map<string, StagedEvent>();
    for (const job of jobs) {
      for (const e of job.events) {
        const k = `${e.eventId}\u0000${e.experimentId}`;
        const into = e.shadowOf === undefined ? unique : shadows;
        if (!into.has(k)) into.set(k, { job, e });
      }
    }
    // No sort here: INSERT_EVENTS takes the keys in primary-key order, so concurrent batches lock alike.
    const staged = [...unique.values()];
    if (staged.length === 0 && shadows.size === 0) return { inserted: 0 };
    const inserted = await this.inStagingTransaction(async (manager) => {
      const shadowed = shadows.size === 0 ? 0 : await this.writeShadows(manager, [...shadows.values()]);
      if (staged.length === 0) return shadowed;
      await copyInto(manager, STAGING_EVENT, copyText(staged, STAGED_FIELDS));
      // Request units are no one's history: their events stay out of the baseline (a row per event otherwise).
      const requestUnits = await this.requestUnitExperiments(manager, staged.filter((x) => x.e.experimentId !== BASELINE_EXPERIMENT_ID).map((x) => x.e.experimentId));
      const [{ n }]: Array<{ n: number }> = await manager.query(INSERT_EVENTS, [[...requestUnits]]);
      let fresh: OutcomeRecord[];
      if (n === staged.length) fresh = staged.map((s) => s.e);
      else {
        const rows: Array<{ experiment_id: string; event_id: string }> = n === 0 ? [] : await manager.query(NEW_EVENTS);
        fresh = rows.map((r) => unique.get(`${r.event_id}\u0000${r.experiment_id}`)!.e);
      }
      const deltas = new AggregateDeltas();
      // Baseline outcomes (no experiment) only feed baseline_unit_day, in INSERT_EVENTS.
      for (const e of fresh) if (e.experimentId !== BASELINE_EXPERIMENT_ID) deltas.addEvent(e, requestUnits.has(e.experimentId));
      await this.applyDeltas(manager, deltas, fresh.length);
      return shadowed + fresh.length;
    });
    // Feedback that arrived before its event: applied now, after the event is committed (see applyFeedback).
    // Almost always there is none: one indexed probe, outside a transaction, decides whether to look.
    // Read after the commit, it sees any feedback committed before ours; feedback committed later
    // is applied by its own writer, which then sees these events.
    const eventIdsByProject = new Map<string, Set<string>>();
    for (const { job, e } of staged) {
      let ids = eventIdsByProject.get(job.projectId);
      if (!ids) eventIdsByProject.set(job.projectId, (ids = new Set()));
      ids.add(e.eventId);
    }
    for (const [projectId, ids] of eventIdsByProject) {
      const eventIds = [...ids];
      const early: unknown[] = await this.dataSource.query(ANY_FEEDBACK, [projectId, eventIds]);
      if (early.length === 0) continue;
      try {
        await this.applyFeedback(projectId, eventIds);
      } catch (error) {
        // The events are stored: a feedback that cannot be applied must not send them to the dead letters.
        // It stays stored, and its own writer dead-letters it when it is sent again (docs/adr/0015).
        const reason = dataErrorReason(error);
        if (reason === null) throw error;
        this.logger.error({ projectId, reason }, 'early feedback could not be applied to stored events');
      }
    }
    return { inserted };
  }

  /** Stores shadow outcomes (INSERT_SHADOWS); returns how many were new. */
  private async writeShadows(manager: EntityManager, shadows: readonly StagedEvent[]): Promise<number> {
    const rows = shadows.map(({ job, e }) => ({
      experiment_id: e.experimentId,
      event_id: e.eventId,
      paired_event_id: e.shadowOf,
      project_id: job.projectId,
      occurred_at: e.at,
      phase: e.phase,
      unit_id: e.unitId,
      variant: e.variant,
      latency_ms: e.latencyMs,
      ttft_ms: e.ttftMs,
      input_tokens: e.inputTokens,
      output_tokens: e.outputTokens,
      cost_usd: e.costUsd,
      success: e.success,
      error: e.error,
      exact_match: e.exactMatch ?? null,
      json_match: e.jsonMatch ?? null,
      received_at: job.receivedAt,
    }));
    const [{ n }]: Array<{ n: number }> = await manager.query(INSERT_SHADOWS, [JSON.stringify(rows)]);
    return n;
  }

  /** Stores the latest feedback per event (a repeat with the same content changes nothing), then applies it. */
  async writeFeedback(job: FeedbackBatchJob): Promise<{ applied: number }> {
    const latest = new Map(job.items.map((i) => [i.eventId, i]));
    const items = byKey(latest.entries());
    if (items.length === 0) return { applied: 0 };
    const hashes = items.map(feedbackHash);
    await this.dataSource.query(UPSERT_FEEDBACK, [
      job.projectId,
      items.map((i) => i.eventId),
      items.map((i) => i.success ?? null),
      items.map((i) => i.score ?? null),
      items.map((i) => json(i.metrics)),
      hashes,
      job.receivedAt,
    ]);
    return { applied: await this.applyFeedback(job.projectId, items.map((i) => i.eventId)) };
  }

  /** Removes these items' stored feedback (this version only) when they are dead-lettered, so no later write applies them. */
  async discardFeedback(projectId: string, items: readonly FeedbackRecord[]): Promise<void> {
    if (items.length === 0) return;
    await this.dataSource.query(DISCARD_FEEDBACK, [projectId, items.map((i) => i.eventId), items.map(feedbackHash)]);
  }

  /**
   * Applies stored feedback to the events that have not seen its current version: the
   * aggregates move by (new effective values - previously applied ones) and the event
   * remembers the version. Run after both an event batch and a feedback batch commit,
   * so whichever commits last sees the other: feedback is applied exactly once, in
   * either order, however often it is repeated.
   */
  async applyFeedback(projectId: string, eventIds: string[]): Promise<number> {
    if (eventIds.length === 0) return 0;
    return this.inStagingTransaction(async (manager) => {
      const rows: PendingFeedbackRow[] = await manager.query(PENDING_FEEDBACK, [projectId, eventIds]);
      if (rows.length === 0) return 0;
      const deltas = new AggregateDeltas();
      const marks: Array<{ row: PendingFeedbackRow; applied: Quality }> = [];
      for (const row of rows) {
        const key = { experimentId: row.experiment_id, phase: row.phase, variant: row.variant, unitId: row.unit_id };
        const original: Quality = { success: row.success, score: row.score, metrics: row.metrics };
        const before = effectiveQuality(original, { success: row.fb_success, score: row.fb_score, metrics: row.fb_metrics });
        const applied = sanitiseFeedback(row);
        const after = effectiveQuality(original, applied);
        const event = { day: row.occurred_at.toISOString().slice(0, 10), costUsd: row.cost_usd, requestUnits: row.unit_type === 'request' };
        deltas.changeQuality(key, event, before, after);
        marks.push({ row, applied });
      }
      await manager.query(MARK_FEEDBACK, [
        marks.map((m) => m.row.experiment_id),
        marks.map((m) => m.row.event_id),
        marks.map((m) => m.row.hash),
        marks.map((m) => m.applied.success),
        marks.map((m) => m.applied.score),
        marks.map((m) => json(m.applied.metrics)),
        projectId,
      ]);
      await this.applyDeltas(manager, deltas);
      return rows.length;
    });
  }

  /** Writes the deltas; `storedEvents` new events are counted as stored in the same statement. */
  private async applyDeltas(manager: EntityManager, deltas: AggregateDeltas, storedEvents = 0): Promise<void> {
    if (deltas.empty) return;
    const nonFinite = nonFiniteDelta(deltas);
    if (nonFinite) throw new UnstorableDataError(`a non-finite aggregate delta (${nonFinite})`);
    const units: UnitRow[] = [...deltas.units].map(([k, u]) => ({ key: u.key, v: u.v, firstAt: deltas.firstAt.get(k) ?? null }));
    await copyInto(manager, STAGING_UNIT, copyText(units, UNIT_FIELDS));
    const totals: Array<Record<string, string | number | number[] | null>> = await manager.query(UPSERT_UNITS);
    const daily = dailyRows(deltas, totals);
    const cuped = cupedJson(deltas, totals);
    const unitMetrics = byKey(deltas.unitMetrics.entries());
    const moments = byKey(deltas.moments.entries());
    const histograms = byKey(deltas.histograms.entries());
    await manager.query(UPSERT_AGGREGATES, [
      moments.map((m) => m.experimentId),
      moments.map((m) => m.phase),
      moments.map((m) => m.variant),
      moments.map((m) => m.metric),
      moments.map((m) => m.m.n),
      moments.map((m) => m.m.sum),
      moments.map((m) => m.m.sumsq),
      histograms.map((h) => h.experimentId),
      histograms.map((h) => h.phase),
      histograms.map((h) => h.variant),
      histograms.map((h) => h.metric),
      histograms.map((h) => h.bucket),
      histograms.map((h) => h.count),
      unitMetrics.map((u) => u.key.experimentId),
      unitMetrics.map((u) => u.key.phase),
      unitMetrics.map((u) => u.key.variant),
      unitMetrics.map((u) => u.key.unitId),
      unitMetrics.map((u) => u.metric),
      unitMetrics.map((u) => u.m.n),
      unitMetrics.map((u) => u.m.sum),
      unitMetrics.map((u) => u.m.sumsq),
      JSON.stringify(daily),
      storedEvents,
      [...new Set([...deltas.units.values()].map((u) => u.key.experimentId))].sort(),
      cuped,
    ]);
  }
}

/** The daily rows of the batch, in key order, from the units' new totals (user units) or the events themselves (request units). */
function dailyRows(deltas: AggregateDeltas, totals: Array<Record<string, string | number | number[] | null>>): object[] {
  const totalsAfter = new Map<string, DailySums>();
  for (const t of totals) {
    const key = { experimentId: String(t.experiment_id), phase: Number(t.phase), variant: String(t.variant), unitId: String(t.unit_id) };
    totalsAfter.set(unitKeyOf(key), returnedSums(t));
  }
  const rows = deltas.daily.toRows(totalsAfter);
  // JSON would turn Infinity into null, and the column's NOT NULL into a confusing failure.
  for (const r of rows) if (!r.stats.every(Number.isFinite)) throw new UnstorableDataError('a non-finite daily aggregate delta (outcome_daily)');
  const sorted = byKey(rows.map((r) => [`${r.experimentId}\u0000${r.phase}\u0000${r.variant}\u0000${r.day}`, r] as [string, typeof r]));
  return sorted.map((r) => ({
    experiment_id: r.experimentId, phase: r.phase, variant: r.variant, day: r.day, new_units: r.new_units, events: r.events,
    ...Object.fromEntries(DAILY_STAT_COLUMNS.map((c, i) => [c, r.stats[i]])),
  }));
}

/** The per-variant CUPED sums of the batch (docs/adr/0026), as JSON rows in key order. */
function cupedJson(deltas: AggregateDeltas, totals: Array<Record<string, string | number | number[] | null>>): string {
  const units: UnitAfter[] = [];
  for (const t of totals) {
    if (t.cuped === null) continue;
    const values = t.cuped as unknown as number[];
    const at = (c: string): number => {
      const i = CUPED_RETURNED.indexOf(c);
      return i >= 0 ? Number(values[i]) : Number(t[c]);
    };
    const key = { experimentId: String(t.experiment_id), phase: Number(t.phase), variant: String(t.variant), unitId: String(t.unit_id) };
    const change = deltas.units.get(unitKeyOf(key));
    if (!change) throw new Error(`no change staged for unit ${JSON.stringify(key.unitId)}`);
    units.push({
      ...key,
      hasPre: true,
      after: (c) => at(c),
      pre: (c) => at(`pre_${c}`),
      change: (c) => change.v[c],
    });
  }
  const rows = cupedRows(units);
  for (const r of rows) if (!r.sums.every(Number.isFinite)) throw new UnstorableDataError('a non-finite CUPED aggregate delta (outcome_cuped)');
  return JSON.stringify(
    rows.map((r) => ({
      experiment_id: r.experimentId, phase: r.phase, variant: r.variant, metric: r.metric, with_pre: r.withPre,
      ...Object.fromEntries(CUPED_SUMS.map((c, i) => [c, r.sums[i]])),
    })),
  );
}

/** Unit sums come back from Postgres as strings (bigint) and numbers (float8). */
function returnedSums(row: Record<string, string | number | number[] | null>): DailySums {
  const sums = zeroSums();
  DAILY_SUM_COLUMNS.forEach((c, i) => (sums[i] = Number(row[c])));
  return sums;
}

/** Feedback is checked against the event's experiment here, where it is known: out-of-range scores and undeclared metrics are dropped. */
function sanitiseFeedback(row: PendingFeedbackRow): Quality {
  const range = row.score_range ?? { min: 0, max: 1 };
  const declared = new Set((row.custom ?? []).map((c) => c.name));
  const metrics = row.new_metrics ? Object.fromEntries(Object.entries(row.new_metrics).filter(([name]) => declared.has(name))) : null;
  return {
    success: row.new_success,
    score: row.new_score !== null && row.new_score >= range.min && row.new_score <= range.max ? row.new_score : null,
    metrics: metrics && Object.keys(metrics).length ? metrics : null,
  };
}

/** The content hash of a feedback item: equal for a repeat, so a repeat changes nothing. */
function feedbackHash(i: FeedbackRecord): string {
  return createHash('sha256')
    .update(JSON.stringify([i.success ?? null, i.score ?? null, i.metrics ? Object.entries(i.metrics).sort() : null]))
    .digest('base64url')
    .slice(0, 22);
}
