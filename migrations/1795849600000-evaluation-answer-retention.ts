import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The answer cache's retention (docs/adr/0035): the worker deletes answers by age, through this index. */
export class EvaluationAnswerRetention1795849600000 implements MigrationInterface {
  name = 'EvaluationAnswerRetention1795849600000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "evaluation_answer_created_idx" ON "evaluation_answer" ("created_at")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."evaluation_answer_created_idx"`);
  }
}
