import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Outcome ingestion (docs/ingestion.md, docs/adr/0004):
 * - outcome_event: raw events, range-partitioned by month on the event time, with a
 *   default partition so no event is ever refused; the worker creates months ahead.
 * - outcome_event_key: one row per (experiment, event id), the idempotency guard (a
 *   unique key on a partitioned table must include the partition key, so it lives here),
 *   with what late feedback needs: the unit, the values as sent and the feedback applied.
 * - outcome_feedback: the latest feedback per (project, event id), with a content hash.
 * - outcome_unit, outcome_unit_metric: per-unit sums, the unit of analysis.
 * - outcome_moment: per variant and phase moment sums (n, sum, sum of squares) per metric.
 * - outcome_histogram: per variant and phase log-histogram buckets (libs/stats) of latency and ttft.
 * No foreign keys on these bulk tables: every row costs a lookup, and the worker only
 * writes ids it took from the snapshot.
 */
export class Outcomes1795843000000 implements MigrationInterface {
  name = 'Outcomes1795843000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "outcome_event" (
      "experiment_id" uuid NOT NULL,
      "event_id" text NOT NULL,
      "occurred_at" timestamptz NOT NULL,
      "received_at" timestamptz NOT NULL,
      "phase" integer NOT NULL,
      "unit_id" text NOT NULL,
      "variant" text NOT NULL,
      "latency_ms" double precision,
      "ttft_ms" double precision,
      "input_tokens" bigint,
      "output_tokens" bigint,
      "cost_usd" double precision,
      "cost_computed" boolean NOT NULL DEFAULT false,
      "success" boolean,
      "score" double precision,
      "error" text,
      "metrics" jsonb
    ) PARTITION BY RANGE ("occurred_at")`);
    await queryRunner.query(`CREATE TABLE "outcome_event_default" PARTITION OF "outcome_event" DEFAULT`);
    await queryRunner.query(`CREATE INDEX "outcome_event_experiment_idx" ON "outcome_event" ("experiment_id", "occurred_at")`);

    await queryRunner.query(`CREATE TABLE "outcome_event_key" (
      "experiment_id" uuid NOT NULL,
      "event_id" text NOT NULL,
      "project_id" uuid NOT NULL,
      "occurred_at" timestamptz NOT NULL,
      "phase" integer NOT NULL,
      "unit_id" text NOT NULL,
      "variant" text NOT NULL,
      "success" boolean,
      "score" double precision,
      "metrics" jsonb,
      "feedback_hash" text,
      "fb_success" boolean,
      "fb_score" double precision,
      "fb_metrics" jsonb,
      CONSTRAINT "outcome_event_key_pkey" PRIMARY KEY ("experiment_id", "event_id")
    )`);
    await queryRunner.query(`CREATE INDEX "outcome_event_key_project_event_idx" ON "outcome_event_key" ("project_id", "event_id")`);

    await queryRunner.query(`CREATE TABLE "outcome_feedback" (
      "project_id" uuid NOT NULL,
      "event_id" text NOT NULL,
      "success" boolean,
      "score" double precision,
      "metrics" jsonb,
      "hash" text NOT NULL,
      "received_at" timestamptz NOT NULL,
      CONSTRAINT "outcome_feedback_pkey" PRIMARY KEY ("project_id", "event_id")
    )`);

    await queryRunner.query(`CREATE TABLE "outcome_unit" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "variant" text NOT NULL,
      "unit_id" text NOT NULL,
      "events" bigint NOT NULL DEFAULT 0,
      "success_n" bigint NOT NULL DEFAULT 0,
      "successes" bigint NOT NULL DEFAULT 0,
      "score_n" bigint NOT NULL DEFAULT 0,
      "score_sum" double precision NOT NULL DEFAULT 0,
      "score_sumsq" double precision NOT NULL DEFAULT 0,
      "latency_n" bigint NOT NULL DEFAULT 0,
      "latency_sum" double precision NOT NULL DEFAULT 0,
      "latency_sumsq" double precision NOT NULL DEFAULT 0,
      "ttft_n" bigint NOT NULL DEFAULT 0,
      "ttft_sum" double precision NOT NULL DEFAULT 0,
      "ttft_sumsq" double precision NOT NULL DEFAULT 0,
      "cost_n" bigint NOT NULL DEFAULT 0,
      "cost_sum" double precision NOT NULL DEFAULT 0,
      "cost_sumsq" double precision NOT NULL DEFAULT 0,
      "cost_unknown" bigint NOT NULL DEFAULT 0,
      "input_tokens" bigint NOT NULL DEFAULT 0,
      "output_tokens" bigint NOT NULL DEFAULT 0,
      "errors" bigint NOT NULL DEFAULT 0,
      CONSTRAINT "outcome_unit_pkey" PRIMARY KEY ("experiment_id", "phase", "variant", "unit_id")
    )`);
    await queryRunner.query(`CREATE TABLE "outcome_unit_metric" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "variant" text NOT NULL,
      "unit_id" text NOT NULL,
      "metric" text NOT NULL,
      "n" bigint NOT NULL,
      "sum" double precision NOT NULL,
      "sumsq" double precision NOT NULL,
      CONSTRAINT "outcome_unit_metric_pkey" PRIMARY KEY ("experiment_id", "phase", "variant", "unit_id", "metric")
    )`);
    await queryRunner.query(`CREATE TABLE "outcome_moment" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "variant" text NOT NULL,
      "metric" text NOT NULL,
      "n" bigint NOT NULL,
      "sum" double precision NOT NULL,
      "sumsq" double precision NOT NULL,
      CONSTRAINT "outcome_moment_pkey" PRIMARY KEY ("experiment_id", "phase", "variant", "metric")
    )`);
    await queryRunner.query(`CREATE TABLE "outcome_histogram" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "variant" text NOT NULL,
      "metric" text NOT NULL,
      "bucket" integer NOT NULL,
      "count" bigint NOT NULL,
      CONSTRAINT "outcome_histogram_pkey" PRIMARY KEY ("experiment_id", "phase", "variant", "metric", "bucket")
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['outcome_histogram', 'outcome_moment', 'outcome_unit_metric', 'outcome_unit', 'outcome_feedback', 'outcome_event_key', 'outcome_event']) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
