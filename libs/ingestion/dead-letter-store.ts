import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { COUNTER_SHARDS, INGEST_KINDS, type IngestKind } from '../observability/ingest-counter-sql';
import { isStorableText } from '../storable/storable';

/** An acknowledged item the worker could not store, with why. */
export interface DeadLetter {
  projectId: string;
  kind: IngestKind;
  /** The item as it was queued; stored as JSON text, so any content is storable. */
  payload: unknown;
  reason: string;
  /** When the API received it (the job's receipt time). */
  receivedAt: string | null;
}

export interface DeadLetterRow {
  id: string;
  kind: IngestKind;
  eventId: string | null;
  experimentId: string | null;
  reason: string;
  payload: string;
  receivedAt: string | null;
  deadAt: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One row per (project, kind, payload): a job retried after its dead letters were written
 * writes them again as no-ops (the reason is refreshed). Rows newly dead-lettered are
 * counted in the same statement. Sorted by key so concurrent writers lock alike.
 */
const ADD = `WITH incoming AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
      AS t(project_id, kind, event_id, experiment_id, reason, payload, payload_hash, received_at)
  ),
  upserted AS (
    INSERT INTO ingest_dead_letter AS d (project_id, kind, event_id, experiment_id, reason, payload, payload_hash, received_at)
    SELECT * FROM incoming ORDER BY project_id, kind, payload_hash
    ON CONFLICT ON CONSTRAINT ingest_dead_letter_payload_key DO UPDATE SET reason = EXCLUDED.reason, dead_at = now()
    RETURNING d.kind, (xmax = 0) AS inserted
  ),
  counted AS (
    INSERT INTO ingest_counter AS c (kind, result, shard, n)
    SELECT kind, 'dead_lettered', pg_backend_pid() % ${COUNTER_SHARDS}, count(*) FROM upserted WHERE inserted GROUP BY kind
    ON CONFLICT ON CONSTRAINT ingest_counter_pkey DO UPDATE SET n = c.n + EXCLUDED.n
  )
  SELECT count(*) FILTER (WHERE inserted)::int AS n FROM upserted`;

const COLUMNS = `id::text AS id, kind, event_id AS "eventId", experiment_id AS "experimentId", reason, payload,
  to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "receivedAt",
  to_char(dead_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "deadAt"`;

/** A field of the payload, when it is a storable string (a NUL event id stays in the payload only). */
function textField(payload: unknown, field: string, pattern?: RegExp): string | null {
  const value = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>)[field] : undefined;
  if (typeof value !== 'string' || value.length > 256 || !isStorableText(value)) return null;
  return pattern && !pattern.test(value) ? null : value;
}

/** The dead-letter table (migrations/1795849140000-ingest-dead-letters.ts): written by the worker, read and emptied by the admin API. */
@Injectable()
export class DeadLetterStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Stores the letters; returns how many were new. */
  async add(letters: readonly DeadLetter[]): Promise<number> {
    const unique = new Map<string, { letter: DeadLetter; text: string; hash: string }>();
    for (const letter of letters) {
      // JSON.stringify escapes NUL and lone surrogates: the text is always storable.
      const text = JSON.stringify(letter.payload) ?? 'null';
      const hash = createHash('sha256').update(`${letter.kind}\n${text}`).digest('base64url');
      unique.set(`${letter.projectId}\n${hash}`, { letter, text, hash });
    }
    const rows = [...unique.values()];
    if (rows.length === 0) return 0;
    const [{ n }]: Array<{ n: number }> = await this.dataSource.query(ADD, [
      rows.map((r) => r.letter.projectId),
      rows.map((r) => r.letter.kind),
      rows.map((r) => textField(r.letter.payload, r.letter.kind === 'outcome' ? 'eventId' : r.letter.kind === 'feedback' ? 'eventId' : 'unitId')),
      rows.map((r) => textField(r.letter.payload, 'experimentId', UUID)),
      rows.map((r) => cleanText(r.letter.reason)),
      rows.map((r) => r.text),
      rows.map((r) => r.hash),
      rows.map((r) => r.letter.receivedAt),
    ]);
    return n;
  }

  async list(projectId: string, page: { kind?: IngestKind; limit: number; offset: number }): Promise<{ total: number; items: DeadLetterRow[] }> {
    const kinds = page.kind ? [page.kind] : [...INGEST_KINDS];
    const [items, [{ total }]]: [DeadLetterRow[], Array<{ total: number }>] = await Promise.all([
      this.dataSource.query(
        `SELECT ${COLUMNS} FROM ingest_dead_letter WHERE project_id = $1 AND kind = ANY($2::text[]) ORDER BY id LIMIT $3 OFFSET $4`,
        [projectId, kinds, page.limit, page.offset],
      ),
      this.dataSource.query(`SELECT count(*)::int AS total FROM ingest_dead_letter WHERE project_id = $1 AND kind = ANY($2::text[])`, [projectId, kinds]),
    ]);
    return { total, items };
  }

  /** The project's dead letters with the given id, or the first `limit` of them all (oldest first). */
  async take(projectId: string, id: string | null, limit: number): Promise<DeadLetterRow[]> {
    return id === null
      ? this.dataSource.query(`SELECT ${COLUMNS} FROM ingest_dead_letter WHERE project_id = $1 ORDER BY id LIMIT $2`, [projectId, limit])
      : this.dataSource.query(`SELECT ${COLUMNS} FROM ingest_dead_letter WHERE project_id = $1 AND id = $2`, [projectId, id]);
  }

  /** Deletes the project's dead letters with these ids (all of them when `ids` is null); returns how many. */
  async remove(projectId: string, ids: readonly string[] | null): Promise<number> {
    const result: [unknown[], number] =
      ids === null
        ? await this.dataSource.query(`DELETE FROM ingest_dead_letter WHERE project_id = $1`, [projectId])
        : await this.dataSource.query(`DELETE FROM ingest_dead_letter WHERE project_id = $1 AND id = ANY($2::bigint[])`, [projectId, ids]);
    return result[1];
  }

  async setReason(projectId: string, id: string, reason: string): Promise<void> {
    await this.dataSource.query(`UPDATE ingest_dead_letter SET reason = $3, dead_at = now() WHERE project_id = $1 AND id = $2`, [projectId, id, cleanText(reason)]);
  }
}

/** A reason as storable text, at most 1,000 characters. */
function cleanText(text: string): string {
  const clean = isStorableText(text) ? text : JSON.stringify(text).slice(1, -1);
  return clean.length > 1000 ? `${clean.slice(0, 1000)}…` : clean;
}
