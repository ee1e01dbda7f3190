import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Ramp plans and bandit settings of an experiment. */
export class TrafficManagement1795844500000 implements MigrationInterface {
  name = 'TrafficManagement1795844500000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiment" ADD "ramp" jsonb`);
    await queryRunner.query(`ALTER TABLE "experiment" ADD "bandit" jsonb`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiment" DROP COLUMN "bandit"`);
    await queryRunner.query(`ALTER TABLE "experiment" DROP COLUMN "ramp"`);
  }
}
