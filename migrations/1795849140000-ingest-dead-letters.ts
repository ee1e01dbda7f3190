import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Defence in depth on the write path (docs/adr/0015):
 * - ingest_dead_letter: acknowledged items the worker could not store, with the reason,
 *   per project, until an admin deletes or re-drives them. The payload is text from
 *   JSON.stringify (which escapes NUL and lone surrogates), so any payload is storable; one
 *   row per (project, kind, payload hash), so a retried job never dead-letters twice.
 * - ingest_counter: items stored and dead-lettered per kind, summed by GET /metrics. Each
 *   writing connection adds to its own shard row (backend pid modulo 16), inside the write's
 *   own statement, so concurrent writers rarely wait on one another's counter row.
 * Both are written in bulk by SQL: no entity.
 */
export class IngestDeadLetters1795849140000 implements MigrationInterface {
  name = 'IngestDeadLetters1795849140000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "ingest_dead_letter" (
      "id" bigint GENERATED ALWAYS AS IDENTITY,
      "project_id" uuid NOT NULL,
      "kind" text NOT NULL,
      "event_id" text,
      "experiment_id" uuid,
      "reason" text NOT NULL,
      "payload" text NOT NULL,
      "payload_hash" text NOT NULL,
      "received_at" timestamptz,
      "dead_at" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "ingest_dead_letter_pkey" PRIMARY KEY ("id"),
      CONSTRAINT "ingest_dead_letter_kind_check" CHECK ("kind" IN ('outcome', 'feedback', 'exposure')),
      CONSTRAINT "ingest_dead_letter_payload_key" UNIQUE ("project_id", "kind", "payload_hash")
    )`);
    await queryRunner.query(`CREATE INDEX "ingest_dead_letter_project_idx" ON "ingest_dead_letter" ("project_id", "id")`);
    await queryRunner.query(`CREATE TABLE "ingest_counter" (
      "kind" text NOT NULL,
      "result" text NOT NULL,
      "shard" integer NOT NULL,
      "n" bigint NOT NULL,
      CONSTRAINT "ingest_counter_pkey" PRIMARY KEY ("kind", "result", "shard")
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "ingest_counter"`);
    await queryRunner.query(`DROP TABLE "ingest_dead_letter"`);
  }
}
