import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reports: subscriptions (report), what was sent (report_send, one row per job),
 * stop alerts (report_alert, one per decision.changed audit entry) and the project's
 * alert webhook (project_webhook). docs/reports.md.
 */
export class Reports1795846100000 implements MigrationInterface {
  name = 'Reports1795846100000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "report" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "name" text NOT NULL, "recipients" jsonb NOT NULL, "cron" text NOT NULL, "timezone" text NOT NULL, "experiments" jsonb, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "report_pkey" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "report_project_idx" ON "report" ("project_id")`);
    await queryRunner.query(`CREATE TABLE "report_send" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "report_id" uuid NOT NULL, "job_id" text NOT NULL, "trigger" text NOT NULL, "due_at" TIMESTAMP WITH TIME ZONE, "status" text NOT NULL, "recipients" jsonb NOT NULL, "experiments" jsonb, "subject" text, "message_id" text, "attempts" integer NOT NULL DEFAULT '0', "error" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "sent_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "report_send_pkey" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "report_send_report_idx" ON "report_send" ("report_id", "created_at")`);
    await queryRunner.query(`CREATE UNIQUE INDEX "report_send_job_key" ON "report_send" ("job_id")`);
    await queryRunner.query(`CREATE TABLE "report_alert" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "experiment_id" uuid NOT NULL, "audit_entry_id" bigint NOT NULL, "action" text NOT NULL, "reasons" jsonb NOT NULL, "email_status" text NOT NULL, "webhook_status" text NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "error" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "delivered_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "report_alert_pkey" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "report_alert_experiment_idx" ON "report_alert" ("experiment_id", "created_at")`);
    await queryRunner.query(`CREATE UNIQUE INDEX "report_alert_audit_entry_key" ON "report_alert" ("audit_entry_id")`);
    await queryRunner.query(`CREATE TABLE "project_webhook" ("project_id" uuid NOT NULL, "url" text NOT NULL, "secret" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "project_webhook_pkey" PRIMARY KEY ("project_id"))`);
    await queryRunner.query(`ALTER TABLE "report" ADD CONSTRAINT "report_project_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "report_send" ADD CONSTRAINT "report_send_report_fkey" FOREIGN KEY ("report_id") REFERENCES "report"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "report_alert" ADD CONSTRAINT "report_alert_experiment_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiment"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "project_webhook" ADD CONSTRAINT "project_webhook_project_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "project_webhook"`);
    await queryRunner.query(`DROP TABLE "report_alert"`);
    await queryRunner.query(`DROP TABLE "report_send"`);
    await queryRunner.query(`DROP TABLE "report"`);
  }
}
