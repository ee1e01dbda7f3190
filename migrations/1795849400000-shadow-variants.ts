import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Shadow variants (issue #18, docs/adr/0031): experiment.shadow {variant, sampleRate}, and
 * shadow_outcome, the outcomes of shadow copies, each paired with the served call's event id.
 * Stored apart from outcome_event so that no served aggregate, SRM count or decision ever
 * reads them; the shadow section of the results joins them to the served events.
 */
export class ShadowVariants1795849400000 implements MigrationInterface {
  name = 'ShadowVariants1795849400000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiment" ADD "shadow" jsonb`);
    await queryRunner.query(`CREATE TABLE "shadow_outcome" (
      "experiment_id" uuid NOT NULL,
      "event_id" text NOT NULL,
      "paired_event_id" text NOT NULL,
      "project_id" uuid NOT NULL,
      "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      "phase" integer NOT NULL,
      "unit_id" text NOT NULL,
      "variant" text NOT NULL,
      "latency_ms" double precision,
      "ttft_ms" double precision,
      "input_tokens" bigint,
      "output_tokens" bigint,
      "cost_usd" double precision,
      "success" boolean,
      "error" text,
      "exact_match" boolean,
      "json_match" boolean,
      "received_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      CONSTRAINT "shadow_outcome_pkey" PRIMARY KEY ("experiment_id", "event_id"),
      CONSTRAINT "shadow_outcome_paired_key" UNIQUE ("experiment_id", "paired_event_id")
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "shadow_outcome"`);
    await queryRunner.query(`ALTER TABLE "experiment" DROP COLUMN "shadow"`);
  }
}
