import { CronExpressionParser } from 'cron-parser';
import type { FieldError } from '../errors/domain-error';

/** True when Intl knows the IANA zone (the same zone data BullMQ's cron-parser reads through luxon). */
export function isTimeZone(zone: string): boolean {
  if (!zone || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a cron expression (5 fields, or 6 with seconds first) and its time zone the way
 * the scheduler will read them; returns the field errors, empty when both are good.
 */
export function scheduleErrors(cron: string | undefined, timezone: string | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const zoneOk = timezone === undefined || isTimeZone(timezone);
  if (!zoneOk) errors.push({ field: 'timezone', message: `"${timezone}" is not an IANA time zone (e.g. "Europe/Paris", "UTC")` });
  if (cron !== undefined) {
    const fields = cron.trim().split(/\s+/).length;
    if (fields < 5 || fields > 6) {
      errors.push({ field: 'cron', message: 'must have 5 fields (minute hour day month weekday), or 6 with seconds first' });
    } else {
      try {
        CronExpressionParser.parse(cron, { tz: zoneOk && timezone ? timezone : 'UTC', strict: false }).next();
      } catch (error) {
        errors.push({ field: 'cron', message: `is not a valid cron expression: ${(error as Error).message}` });
      }
    }
  }
  return errors;
}
