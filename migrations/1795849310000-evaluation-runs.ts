import type { MigrationInterface, QueryRunner } from 'typeorm';

/** evaluation_run, evaluation_answer (the answer cache) and evaluation_case_result: offline evaluation runs (issue #19, docs/adr/0029). */
export class EvaluationRuns1795849310000 implements MigrationInterface {
  name = 'EvaluationRuns1795849310000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "evaluation_run" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "experiment_id" uuid NOT NULL, "dataset_version_id" uuid NOT NULL, "status" text NOT NULL, "variants" jsonb NOT NULL, "control" text NOT NULL, "evaluators" jsonb NOT NULL, "repetitions" integer NOT NULL, "concurrency" integer NOT NULL, "max_cost_usd" double precision, "margin" double precision NOT NULL, "alpha" double precision NOT NULL, "total" integer NOT NULL, "done" integer NOT NULL DEFAULT '0', "failed" integer NOT NULL DEFAULT '0', "cost_usd" double precision NOT NULL DEFAULT '0', "partial" boolean NOT NULL DEFAULT false, "reason" text, "generation" integer NOT NULL DEFAULT '0', "results" jsonb, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "started_at" TIMESTAMP WITH TIME ZONE, "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "evaluation_run_pkey" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "evaluation_run_experiment_idx" ON "evaluation_run" ("experiment_id", "created_at")`);
    await queryRunner.query(`ALTER TABLE "evaluation_run" ADD CONSTRAINT "evaluation_run_project_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "evaluation_run" ADD CONSTRAINT "evaluation_run_experiment_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiment"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "evaluation_run" ADD CONSTRAINT "evaluation_run_dataset_version_fkey" FOREIGN KEY ("dataset_version_id") REFERENCES "dataset_version"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`CREATE TABLE "evaluation_answer" ("project_id" uuid NOT NULL, "config_hash" text NOT NULL, "case_hash" text NOT NULL, "repetition" integer NOT NULL, "answer" text NOT NULL, "latency_ms" double precision NOT NULL, "ttft_ms" double precision, "input_tokens" integer, "output_tokens" integer, "cost_usd" double precision, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "evaluation_answer_pkey" PRIMARY KEY ("project_id", "config_hash", "case_hash", "repetition"))`);
    await queryRunner.query(`ALTER TABLE "evaluation_answer" ADD CONSTRAINT "evaluation_answer_project_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`CREATE TABLE "evaluation_case_result" ("run_id" uuid NOT NULL, "variant" text NOT NULL, "position" integer NOT NULL, "repetition" integer NOT NULL, "case_id" text NOT NULL, "answer" text, "error" text, "cached" boolean NOT NULL, "latency_ms" double precision, "ttft_ms" double precision, "input_tokens" integer, "output_tokens" integer, "cost_usd" double precision, "scores" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "evaluation_case_result_pkey" PRIMARY KEY ("run_id", "variant", "position", "repetition"))`);
    await queryRunner.query(`ALTER TABLE "evaluation_case_result" ADD CONSTRAINT "evaluation_case_result_run_fkey" FOREIGN KEY ("run_id") REFERENCES "evaluation_run"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "evaluation_case_result"`);
    await queryRunner.query(`DROP TABLE "evaluation_answer"`);
    await queryRunner.query(`DROP TABLE "evaluation_run"`);
  }
}
