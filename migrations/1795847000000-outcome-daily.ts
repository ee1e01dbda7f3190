import type { MigrationInterface, QueryRunner } from 'typeorm';

/** `${metric}_${stat}` as of this migration (libs/ingestion/daily-aggregate.ts), written out so that the migration never changes. */
const STAT_COLUMNS = ['success_rate', 'score', 'error_rate', 'latency_ms', 'cost_usd', 'cost_per_success'].flatMap((metric) =>
  ['y', 'yy', 'z', 'zz', 'yz'].map((stat) => `${metric}_${stat}`),
);

/**
 * outcome_daily: per variant, phase and UTC day, the change that day's writes made to the
 * unit-level sufficient statistics of the daily metrics (docs/adr/0013); the daily series sums
 * the rows up to each day. outcome_event_key keeps the event's cost, which late feedback on a
 * request-unit experiment needs for cost per success. No backfill: no release wrote outcomes
 * without this table.
 */
export class OutcomeDaily1795847000000 implements MigrationInterface {
  name = 'OutcomeDaily1795847000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outcome_event_key" ADD "cost_usd" double precision`);
    await queryRunner.query(`CREATE TABLE "outcome_daily" (
      "experiment_id" uuid NOT NULL,
      "phase" integer NOT NULL,
      "variant" text NOT NULL,
      "day" date NOT NULL,
      "new_units" bigint NOT NULL DEFAULT 0,
      "events" bigint NOT NULL DEFAULT 0,
      ${STAT_COLUMNS.map((c) => `"${c}" double precision NOT NULL DEFAULT 0`).join(',\n      ')},
      CONSTRAINT "outcome_daily_pkey" PRIMARY KEY ("experiment_id", "phase", "variant", "day")
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "outcome_daily"`);
    await queryRunner.query(`ALTER TABLE "outcome_event_key" DROP COLUMN "cost_usd"`);
  }
}
