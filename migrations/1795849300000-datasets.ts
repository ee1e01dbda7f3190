import type { MigrationInterface, QueryRunner } from 'typeorm';

/** dataset_version and dataset_case: versioned datasets for offline evaluation runs (issue #19, docs/adr/0028). */
export class Datasets1795849300000 implements MigrationInterface {
  name = 'Datasets1795849300000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "dataset_version" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "name" text NOT NULL, "version" integer NOT NULL, "case_count" integer NOT NULL, "content_hash" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "deleted_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "dataset_version_pkey" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "dataset_version_name_key" ON "dataset_version" ("project_id", "name", "version")`);
    await queryRunner.query(`ALTER TABLE "dataset_version" ADD CONSTRAINT "dataset_version_project_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`CREATE TABLE "dataset_case" ("dataset_version_id" uuid NOT NULL, "position" integer NOT NULL, "case_id" text NOT NULL, "messages" jsonb NOT NULL, "reference" jsonb, "schema" jsonb, "tags" jsonb NOT NULL, "metadata" jsonb NOT NULL, CONSTRAINT "dataset_case_pkey" PRIMARY KEY ("dataset_version_id", "position"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "dataset_case_case_key" ON "dataset_case" ("dataset_version_id", "case_id")`);
    await queryRunner.query(`ALTER TABLE "dataset_case" ADD CONSTRAINT "dataset_case_dataset_version_fkey" FOREIGN KEY ("dataset_version_id") REFERENCES "dataset_version"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "dataset_case"`);
    await queryRunner.query(`DROP TABLE "dataset_version"`);
  }
}
