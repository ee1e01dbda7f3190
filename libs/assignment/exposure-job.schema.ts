import { z } from 'zod';
import type { ExposureRecord } from '../queue/queues';
import { checkExposureRecord, defaultWindow, describeIssues } from '../storable/storable';

/** One project's part of an exposure job: what can be stored, and what cannot (dead-lettered with its reason). */
export interface ExposureJobPart {
  projectId: string;
  records: ExposureRecord[];
  unstorable: Array<{ item: unknown; reason: string }>;
}

const envelope = z.object({ projectId: z.uuid().optional(), exposures: z.array(z.unknown()) });
const projectOf = z.object({ projectId: z.uuid() });

/**
 * An exposure job, checked record by record with the storable definition
 * (libs/storable/storable.ts), split by project. Jobs from the API carry one project;
 * older jobs mixed projects, so records are grouped by the project they name. A record
 * that names none cannot be dead-lettered anywhere and fails the job (the failed set).
 * Exposures carry no receipt time: the window ends 5 minutes after `now`.
 */
export function parseExposureBatch(data: unknown, now = Date.now()): { ok: true; parts: ExposureJobPart[] } | { ok: false; error: string } {
  const parsed = envelope.safeParse(data);
  if (!parsed.success) return { ok: false, error: z.prettifyError(parsed.error).slice(0, 500) };
  const window = defaultWindow(now);
  const parts = new Map<string, ExposureJobPart>();
  for (const item of parsed.data.exposures) {
    const named = projectOf.safeParse(item);
    const projectId = parsed.data.projectId ?? (named.success ? named.data.projectId : null);
    if (projectId === null) return { ok: false, error: 'an exposure names no project' };
    let part = parts.get(projectId);
    if (!part) parts.set(projectId, (part = { projectId, records: [], unstorable: [] }));
    const checked = checkExposureRecord(item, window);
    if (!checked.ok) part.unstorable.push({ item, reason: describeIssues(checked.issues) });
    else if (checked.record.projectId !== projectId) part.unstorable.push({ item, reason: `projectId: is not the job's project ${projectId}` });
    else part.records.push(checked.record);
  }
  return { ok: true, parts: [...parts.values()] };
}
