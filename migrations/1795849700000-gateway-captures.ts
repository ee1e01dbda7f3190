import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Prompt and answer capture (issue #17, docs/adr/0039): experiment.capture {sampleRate,
 * maxChars, retentionDays} (null: off), and gateway_capture, the captured calls, paged by
 * (experiment, captured_at, event_id) and pruned by expires_at.
 */
export class GatewayCaptures1795849700000 implements MigrationInterface {
  name = 'GatewayCaptures1795849700000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiment" ADD "capture" jsonb`);
    await queryRunner.query(`CREATE TABLE "gateway_capture" (
      "experiment_id" uuid NOT NULL,
      "event_id" text NOT NULL,
      "project_id" uuid NOT NULL,
      "variant" text NOT NULL,
      "instance" text,
      "endpoint" text NOT NULL,
      "stream" boolean NOT NULL,
      "prompt" text NOT NULL,
      "prompt_truncated" boolean NOT NULL,
      "answer" text,
      "answer_truncated" boolean NOT NULL,
      "error" text,
      "captured_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      CONSTRAINT "gateway_capture_pkey" PRIMARY KEY ("experiment_id", "event_id")
    )`);
    await queryRunner.query(`CREATE INDEX "gateway_capture_page_idx" ON "gateway_capture" ("experiment_id", "captured_at", "event_id")`);
    await queryRunner.query(`CREATE INDEX "gateway_capture_expires_idx" ON "gateway_capture" ("expires_at")`);
    await queryRunner.query(
      `ALTER TABLE "gateway_capture" ADD CONSTRAINT "gateway_capture_experiment_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiment"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "gateway_capture"`);
    await queryRunner.query(`ALTER TABLE "experiment" DROP COLUMN "capture"`);
  }
}
