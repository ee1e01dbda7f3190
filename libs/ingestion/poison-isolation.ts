/**
 * Defence in depth on the write path (docs/adr/0015): when a write fails because of the data
 * it carries, retrying it fails the same way forever, so the batch is split until the events
 * that fail alone are found; everything else is written. Any other failure (connection lost,
 * Postgres restarting, deadlock or serialization failure) is transient: it is thrown, and the
 * queue retries the whole job with backoff, which is safe because writes are idempotent.
 */

/** A value the writer itself found it cannot store (a non-finite aggregate delta, say). */
export class UnstorableDataError extends Error {
  override readonly name = 'UnstorableDataError';
}

/**
 * SQLSTATE classes caused by the data: 22 data exception (out of range, invalid encoding
 * such as NUL, bad jsonb), 23 integrity constraint (check constraints, "no partition of
 * relation found for row"), 54 program limit exceeded (a value too large for an index row).
 */
const DATA_CLASSES = new Set(['22', '23', '54']);
const SQLSTATE = /^[0-9A-Z]{5}$/;
const MAX_REASON = 500;

function sqlState(error: unknown): string | null {
  if (typeof error !== 'object' || error === null) return null;
  const e = error as { code?: unknown; driverError?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : e.driverError?.code;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : null;
}

/** Printable and storable: the reason is stored as text and shown by the admin API. */
function cleanReason(text: string): string {
  // eslint-disable-next-line no-control-regex -- NUL is what it replaces
  const clean = text.replace(/[\u0000]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  return clean.length > MAX_REASON ? `${clean.slice(0, MAX_REASON)}…` : clean;
}

/** Why the data made a write fail, or null when the failure is transient (or unknown: retried, never dropped). */
export function dataErrorReason(error: unknown): string | null {
  if (error instanceof UnstorableDataError) return cleanReason(error.message);
  const code = sqlState(error);
  if (code === null || !DATA_CLASSES.has(code.slice(0, 2))) return null;
  const message = error instanceof Error ? error.message : String((error as { message?: unknown }).message ?? '');
  return cleanReason(`SQLSTATE ${code}: ${message}`);
}

/**
 * Writes `items`; when the write fails on data, writes each half again, down to single
 * items, and returns the items that fail alone with their reasons (everything else is
 * written). `firstError` is the failure of writing all of them, when already known.
 * A transient failure at any depth is thrown: the caller's job is retried whole, and the
 * halves already written are no-ops the second time (idempotent writes).
 * Cost: about 2 log2(n) writes per poison item.
 */
export async function isolatePoison<T>(
  items: readonly T[],
  write: (items: T[]) => Promise<unknown>,
  firstError: unknown = undefined,
): Promise<Array<{ item: T; reason: string }>> {
  const poison: Array<{ item: T; reason: string }> = [];
  const visit = async (part: T[], known: unknown): Promise<void> => {
    if (part.length === 0) return;
    let error = known;
    if (error === undefined) {
      try {
        await write(part);
        return;
      } catch (caught) {
        error = caught ?? new Error('write failed');
      }
    }
    const reason = dataErrorReason(error);
    if (reason === null) throw error;
    if (part.length === 1) {
      poison.push({ item: part[0], reason });
      return;
    }
    const mid = part.length >> 1;
    await visit(part.slice(0, mid), undefined);
    await visit(part.slice(mid), undefined);
  };
  await visit([...items], firstError);
  return poison;
}
