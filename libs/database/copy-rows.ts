import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { EntityManager } from 'typeorm';

/** A value as COPY's text format reads it: \N for null, backslash escapes for the four special characters. */
function field(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : text;
}

/** Rows as COPY text: one line per row, fields in `columns` order. */
export function copyText<T>(rows: readonly T[], columns: ReadonlyArray<(row: T) => unknown>): string {
  let text = '';
  for (const row of rows) {
    let line = '';
    for (let i = 0; i < columns.length; i++) line += (i ? '\t' : '') + field(columns[i](row));
    text += line + '\n';
  }
  return text;
}

/**
 * COPY FROM STDIN on the transaction's own connection. Postgres reads COPY's text format far
 * faster than it parses a JSON parameter (docs/adr/0004, "Figures"), so batches reach the
 * database through this and are then moved with INSERT ... SELECT.
 */
export async function copyInto(manager: EntityManager, table: string, text: string): Promise<void> {
  if (!manager.queryRunner) throw new Error('copyInto needs a transaction (an EntityManager with its own query runner)');
  const client = (await manager.queryRunner.connect()) as PoolClient;
  await pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${table} FROM STDIN`)));
}
