import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * throttle_window: the shared "one per key every N ms" windows when the change bus runs on Postgres
 * (libs/bus, docs/adr/0023); one row per key, reused. Unlogged: a crash forgets open windows, which only
 * lets one more request through early.
 */
export class ThrottleWindow1795849230000 implements MigrationInterface {
  name = 'ThrottleWindow1795849230000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE UNLOGGED TABLE "throttle_window" ("key" text NOT NULL, "until" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "throttle_window_pkey" PRIMARY KEY ("key"))`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "throttle_window"`);
  }
}
