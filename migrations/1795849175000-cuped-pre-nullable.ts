import type { MigrationInterface, QueryRunner } from 'typeorm';

/** outcome_unit's covariate columns (1795849170000-cuped-covariates). */
const PRE_COLUMNS = [
  'events', 'success_n', 'successes', 'score_n', 'score_sum', 'errors', 'latency_n', 'latency_sum', 'ttft_n', 'ttft_sum',
  'input_tokens', 'input_tokens_n', 'output_tokens', 'output_tokens_n', 'cost_n', 'cost_sum',
];

/**
 * outcome_unit.pre_* null for a unit without pre-exposure data (has_pre false), not 0: a null takes
 * no room in the row, so the writer's upsert of such a unit writes a row as narrow as before CUPED
 * (docs/adr/0026, docs/cuped.md "Cost"). Rows already stored keep their zeros; readers use has_pre.
 */
export class CupedPreNullable1795849175000 implements MigrationInterface {
  name = 'CupedPreNullable1795849175000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outcome_unit" ${PRE_COLUMNS.map((c) => `ALTER COLUMN "pre_${c}" DROP NOT NULL, ALTER COLUMN "pre_${c}" DROP DEFAULT`).join(', ')}`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`UPDATE "outcome_unit" SET ${PRE_COLUMNS.map((c) => `"pre_${c}" = 0`).join(', ')} WHERE NOT "has_pre"`);
    await queryRunner.query(`ALTER TABLE "outcome_unit" ${PRE_COLUMNS.map((c) => `ALTER COLUMN "pre_${c}" SET DEFAULT 0, ALTER COLUMN "pre_${c}" SET NOT NULL`).join(', ')}`);
  }
}
