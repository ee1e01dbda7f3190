import type { VerdictConfig } from '../../libs/config/config';

/** Where the admin key comes from: VERDICT_ADMIN_KEY, or the data folder (with the key itself on the run that made it). */
export type AdminKeySource = { kind: 'environment' } | { kind: 'file'; file: string; key?: string };

export interface StartBannerInput {
  config: VerdictConfig;
  /** The running embedded PostgreSQL, null with an external one. */
  embedded: { dataDir: string; port: number; major: number; runAs: { user: string } | null } | null;
  adminKey: AdminKeySource;
}

/**
 * The one short block `npm start` prints once the API answers: where to call, where the docs
 * and the data are, which backends run, how to get the admin key. Text for a terminal, and
 * the same as fields for a JSON log line (without the key: it is never logged).
 */
export function startBanner({ config, embedded, adminKey }: StartBannerInput): { text: string; fields: Record<string, string> } {
  const url = config.http.publicUrl;
  const database = embedded
    ? `embedded PostgreSQL ${embedded.major} on 127.0.0.1:${embedded.port}${embedded.runAs ? ` (as ${embedded.runAs.user})` : ''}`
    : 'PostgreSQL at DATABASE_URL';
  const queues =
    config.queue.backend === 'redis'
      ? 'queues and change bus on Redis'
      : `queues on PostgreSQL (BullMQ, schema ${config.queue.schema}), change bus on LISTEN/NOTIFY`;
  const data = embedded ? embedded.dataDir : 'external (DATABASE_URL)';
  const keyHint =
    adminKey.kind === 'environment'
      ? 'VERDICT_ADMIN_KEY from the environment'
      : `export VERDICT_ADMIN_KEY=$(cat ${adminKey.file})`;
  const fields = { url, docs: `${url}/docs`, data, database, backends: queues, adminKey: keyHint };
  const lines = [
    '',
    `  Verdict is ready at ${url}`,
    `  API docs    ${url}/docs`,
    `  Data        ${data}`,
    `  Database    ${database}`,
    `  Backends    ${queues}`,
    ...(adminKey.kind === 'file' && adminKey.key ? [`  Admin key   ${adminKey.key}  (new; shown once, kept in ${adminKey.file})`] : []),
    `  Use it      ${keyHint}`,
    '  Stop        Ctrl-C',
    '',
  ];
  return { text: `${lines.join('\n')}\n`, fields };
}
