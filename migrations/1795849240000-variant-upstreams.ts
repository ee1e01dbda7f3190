import type { MigrationInterface, QueryRunner } from 'typeorm';

/** experiment.upstreams: where the gateway sends each variant's traffic (docs/gateway.md, docs/adr/0024). */
export class VariantUpstreams1795849240000 implements MigrationInterface {
  name = 'VariantUpstreams1795849240000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiment" ADD "upstreams" jsonb NOT NULL DEFAULT '{}'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "experiment" DROP COLUMN "upstreams"`);
  }
}
