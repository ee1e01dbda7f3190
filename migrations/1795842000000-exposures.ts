import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Exposures (first per unit, experiment and phase) and the per-variant unit counts SRM reads. */
export class Exposures1795842000000 implements MigrationInterface {
  name = 'Exposures1795842000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "exposure" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "unit_id" text NOT NULL,
      "variant" text NOT NULL,
      "first_at" timestamptz NOT NULL,
      "last_at" timestamptz NOT NULL,
      "exposures" bigint NOT NULL DEFAULT 1,
      CONSTRAINT "exposure_pkey" PRIMARY KEY ("experiment_id", "phase", "unit_id"),
      CONSTRAINT "exposure_experiment_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiment"("id") ON DELETE CASCADE
    )`);
    await queryRunner.query(`CREATE TABLE "exposure_count" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "variant" text NOT NULL,
      "units" bigint NOT NULL,
      CONSTRAINT "exposure_count_pkey" PRIMARY KEY ("experiment_id", "phase", "variant"),
      CONSTRAINT "exposure_count_experiment_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiment"("id") ON DELETE CASCADE
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "exposure_count"`);
    await queryRunner.query(`DROP TABLE "exposure"`);
  }
}
