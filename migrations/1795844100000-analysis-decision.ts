import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * analysis_decision: the latest decision computed for each experiment, so that a change
 * of the recommended action is noticed (and audited as decision.changed) exactly once,
 * whichever API replica computes it (docs/adr/0007).
 */
export class AnalysisDecision1795844100000 implements MigrationInterface {
  name = 'AnalysisDecision1795844100000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "analysis_decision" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "action" text NOT NULL,
      "winner" text,
      "reasons" jsonb NOT NULL,
      "data_version" text NOT NULL,
      "decided_at" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "analysis_decision_pkey" PRIMARY KEY ("experiment_id"),
      CONSTRAINT "analysis_decision_experiment_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiment"("id") ON DELETE CASCADE
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "analysis_decision"`);
  }
}
