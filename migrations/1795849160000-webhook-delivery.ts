import type { MigrationInterface, QueryRunner } from 'typeorm';

/** webhook_delivery: one row per attempt to call a project's webhook (docs/reports.md, docs/adr/0016). */
export class WebhookDelivery1795849160000 implements MigrationInterface {
  name = 'WebhookDelivery1795849160000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "webhook_delivery" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "alert_id" uuid, "trigger" text NOT NULL, "url" text NOT NULL, "outcome" text NOT NULL, "status_code" integer, "reason" text, "duration_ms" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "webhook_delivery_pkey" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "webhook_delivery_project_idx" ON "webhook_delivery" ("project_id", "created_at")`);
    await queryRunner.query(`ALTER TABLE "webhook_delivery" ADD CONSTRAINT "webhook_delivery_project_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "webhook_delivery" ADD CONSTRAINT "webhook_delivery_alert_fkey" FOREIGN KEY ("alert_id") REFERENCES "report_alert"("id") ON DELETE SET NULL ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "webhook_delivery"`);
  }
}
