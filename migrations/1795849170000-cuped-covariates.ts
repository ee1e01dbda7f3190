import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The per-unit sums a covariate is made of: the numerator and denominator columns of every built-in sum metric. */
const PRE_COLUMNS: ReadonlyArray<[string, 'bigint' | 'double precision']> = [
  ['events', 'bigint'], ['success_n', 'bigint'], ['successes', 'bigint'], ['score_n', 'bigint'], ['score_sum', 'double precision'],
  ['errors', 'bigint'], ['latency_n', 'bigint'], ['latency_sum', 'double precision'], ['ttft_n', 'bigint'], ['ttft_sum', 'double precision'],
  ['input_tokens', 'bigint'], ['input_tokens_n', 'bigint'], ['output_tokens', 'bigint'], ['output_tokens_n', 'bigint'],
  ['cost_n', 'bigint'], ['cost_sum', 'double precision'],
];

/**
 * Per variant and metric, the CUPED sums over units: pre numerator p and denominator q, their cross-products with the
 * in-experiment y and z, and the missing-data indicator's: units with pre-data and their y and z.
 */
const CUPED_SUMS = ['py', 'pyy', 'pz', 'pzz', 'pyz', 'y_py', 'z_pz', 'y_pz', 'py_z', 'i_n', 'i_y', 'i_z'];

/**
 * CUPED covariates (issue 20, docs/adr/0026):
 * - baseline_unit_day: per project, unit and UTC day, the sums of every outcome the project
 *   stores (any experiment, and outcomes sent with no experiment), kept by the outcome writer.
 * - outcome_unit.pre_*: the same sums over the lookback window before the unit's first exposure,
 *   taken from baseline_unit_day when the unit's row is created; has_pre says whether it had any.
 * - outcome_cuped: per variant and metric, the sums CUPED needs (pre sums, their squares, the
 *   cross-products with the in-experiment sums), kept by the writer from the units' returned sums.
 * - unit_covariate: covariates a client supplies per unit and metric (POST /v1/covariates), and
 *   unit_covariate_version, a per-project counter each write bumps (part of the results' data version).
 */
export class CupedCovariates1795849170000 implements MigrationInterface {
  name = 'CupedCovariates1795849170000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "baseline_unit_day" (
      "project_id" uuid NOT NULL,
      "unit_id" text NOT NULL,
      "day" date NOT NULL,
      ${PRE_COLUMNS.map(([c, type]) => `"${c}" ${type} NOT NULL DEFAULT 0`).join(',\n      ')},
      CONSTRAINT "baseline_unit_day_pkey" PRIMARY KEY ("project_id", "unit_id", "day")
    )`);
    await queryRunner.query(`ALTER TABLE "baseline_unit_day" SET (fillfactor = 70)`);
    await queryRunner.query(
      `ALTER TABLE "outcome_unit" ADD "has_pre" boolean NOT NULL DEFAULT false, ${PRE_COLUMNS.map(([c, type]) => `ADD "pre_${c}" ${type} NOT NULL DEFAULT 0`).join(', ')}`,
    );
    await queryRunner.query(`CREATE TABLE "outcome_cuped" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "variant" text NOT NULL,
      "metric" text NOT NULL,
      "with_pre" bigint NOT NULL DEFAULT 0,
      ${CUPED_SUMS.map((c) => `"${c}" double precision NOT NULL DEFAULT 0`).join(',\n      ')},
      CONSTRAINT "outcome_cuped_pkey" PRIMARY KEY ("experiment_id", "phase", "variant", "metric")
    )`);
    await queryRunner.query(`CREATE TABLE "unit_covariate" (
      "project_id" uuid NOT NULL,
      "unit_id" text NOT NULL,
      "metric" text NOT NULL,
      "value" double precision NOT NULL,
      "updated_at" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "unit_covariate_pkey" PRIMARY KEY ("project_id", "metric", "unit_id")
    )`);
    await queryRunner.query(`CREATE TABLE "unit_covariate_version" (
      "project_id" uuid NOT NULL,
      "version" bigint NOT NULL,
      CONSTRAINT "unit_covariate_version_pkey" PRIMARY KEY ("project_id")
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "unit_covariate_version"`);
    await queryRunner.query(`DROP TABLE "unit_covariate"`);
    await queryRunner.query(`DROP TABLE "outcome_cuped"`);
    await queryRunner.query(`ALTER TABLE "outcome_unit" DROP COLUMN "has_pre", ${PRE_COLUMNS.map(([c]) => `DROP COLUMN "pre_${c}"`).join(', ')}`);
    await queryRunner.query(`DROP TABLE "baseline_unit_day"`);
  }
}
