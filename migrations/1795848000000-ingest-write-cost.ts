import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Cheaper writes on the ingestion path (docs/ingestion.md, "Throughput"):
 * - outcome_event_key: one index instead of two. The primary key (project_id, event_id,
 *   experiment_id) is as unique as (experiment_id, event_id), since an experiment belongs to
 *   one project, and it also serves feedback, which finds events by (project_id, event_id).
 * - the per-unit aggregates are updated in place many times: free space on each page lets
 *   Postgres keep the new row version on the same page without touching the index (HOT).
 */
export class IngestWriteCost1795848000000 implements MigrationInterface {
  name = 'IngestWriteCost1795848000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "outcome_event_key_project_event_idx"`);
    await queryRunner.query(`ALTER TABLE "outcome_event_key" DROP CONSTRAINT "outcome_event_key_pkey"`);
    await queryRunner.query(`ALTER TABLE "outcome_event_key" ADD CONSTRAINT "outcome_event_key_pkey" PRIMARY KEY ("project_id", "event_id", "experiment_id")`);
    for (const table of ['outcome_unit', 'outcome_unit_metric']) await queryRunner.query(`ALTER TABLE "${table}" SET (fillfactor = 70)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['outcome_unit', 'outcome_unit_metric']) await queryRunner.query(`ALTER TABLE "${table}" RESET (fillfactor)`);
    await queryRunner.query(`ALTER TABLE "outcome_event_key" DROP CONSTRAINT "outcome_event_key_pkey"`);
    await queryRunner.query(`ALTER TABLE "outcome_event_key" ADD CONSTRAINT "outcome_event_key_pkey" PRIMARY KEY ("experiment_id", "event_id")`);
    await queryRunner.query(`CREATE INDEX "outcome_event_key_project_event_idx" ON "outcome_event_key" ("project_id", "event_id")`);
  }
}
