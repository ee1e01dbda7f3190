/** Why the embedded PostgreSQL could not start. Each has a one-line message naming the cause and the fix. */
export type EmbeddedPostgresFault =
  | 'broken_install'
  | 'unsupported_platform'
  | 'port_busy'
  | 'data_folder_unwritable'
  | 'data_folder_unreachable'
  | 'other_major'
  | 'stale_lock'
  | 'already_running'
  | 'start_failed';

/**
 * A fault of the embedded PostgreSQL that the person running `npm start` can fix. The
 * message is one line (cause, then fix); the launcher prints it as is and exits non-zero.
 * Nothing is deleted when one is thrown.
 */
export class EmbeddedPostgresError extends Error {
  override readonly name = 'EmbeddedPostgresError';

  constructor(
    readonly fault: EmbeddedPostgresFault,
    message: string,
  ) {
    super(message);
  }
}
