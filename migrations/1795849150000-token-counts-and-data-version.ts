import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 15 (docs/adr/0019):
 * - outcome_unit.input_tokens_n, output_tokens_n: the events of the unit that reported token
 *   counts, the denominators of the token means (they divided by every event, so failed calls
 *   without token counts made an arm look cheaper). Backfilled from the raw events where a
 *   unit's raw rows are all still there; otherwise (raw partitions already dropped by
 *   retention) from `events`, which is what the means used before.
 * - outcome_version: a counter per experiment that every aggregate write bumps in its own
 *   statement, so that the results cache's data version changes on every write that changes
 *   a result (sums over the moments did not when two feedback corrections cancelled).
 */
export class TokenCountsAndDataVersion1795849150000 implements MigrationInterface {
  name = 'TokenCountsAndDataVersion1795849150000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outcome_unit" ADD "input_tokens_n" bigint NOT NULL DEFAULT 0, ADD "output_tokens_n" bigint NOT NULL DEFAULT 0`);
    await queryRunner.query(`UPDATE "outcome_unit" u
      SET input_tokens_n = CASE WHEN r.events = u.events THEN r.input_n ELSE u.events END,
          output_tokens_n = CASE WHEN r.events = u.events THEN r.output_n ELSE u.events END
      FROM (SELECT experiment_id, phase, variant, unit_id, count(*) AS events, count(input_tokens) AS input_n, count(output_tokens) AS output_n
            FROM "outcome_event" GROUP BY experiment_id, phase, variant, unit_id) r
      WHERE r.experiment_id = u.experiment_id AND r.phase = u.phase AND r.variant = u.variant AND r.unit_id = u.unit_id`);
    await queryRunner.query(`UPDATE "outcome_unit" u SET input_tokens_n = events, output_tokens_n = events
      WHERE input_tokens_n = 0 AND output_tokens_n = 0 AND events > 0
        AND NOT EXISTS (SELECT 1 FROM "outcome_event" e WHERE e.experiment_id = u.experiment_id AND e.phase = u.phase AND e.variant = u.variant AND e.unit_id = u.unit_id)`);
    await queryRunner.query(`CREATE TABLE "outcome_version" (
      "experiment_id" uuid NOT NULL,
      "version" bigint NOT NULL,
      CONSTRAINT "outcome_version_pkey" PRIMARY KEY ("experiment_id")
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "outcome_version"`);
    await queryRunner.query(`ALTER TABLE "outcome_unit" DROP COLUMN "output_tokens_n", DROP COLUMN "input_tokens_n"`);
  }
}
