/**
 * The ingest_counter table's kinds and the SQL that counts into it (docs/adr/0015): shared by
 * the writers of every ingested kind (outcomes and feedback in libs/ingestion, exposures in
 * libs/assignment), which add to it in the statement that writes the items.
 */
export type IngestKind = 'outcome' | 'feedback' | 'exposure';
export const INGEST_KINDS: readonly IngestKind[] = ['outcome', 'feedback', 'exposure'];
export type IngestResult = 'stored' | 'dead_lettered';

/** Rows per (kind, result): a connection adds to the row of its backend pid modulo this, so concurrent writers rarely meet. */
export const COUNTER_SHARDS = 16;

/**
 * SQL that adds `value` to the (kind, result) counter, for a data-modifying CTE of the
 * statement that writes the items: counted in the same transaction, at no extra round trip.
 * `tail` filters (WHERE ... or FROM ... HAVING ...) so that nothing is written for 0.
 */
export function counterUpsert(kind: IngestKind, result: IngestResult, value: string, tail: string): string {
  return `INSERT INTO ingest_counter AS c (kind, result, shard, n)
    SELECT '${kind}', '${result}', pg_backend_pid() % ${COUNTER_SHARDS}, ${value} ${tail}
    ON CONFLICT ON CONSTRAINT ingest_counter_pkey DO UPDATE SET n = c.n + EXCLUDED.n`;
}
