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

const DAY_MS = 86_400_000;

/**
 * The shortest time between two consecutive due times of a cron, in ms, looking far enough
 * ahead to see it: a cron's due times repeat the same times of day on every day it fires,
 * so a day of them and the next one (or two minimum intervals, when longer; at least
 * three due times) show every gap, DST shifts aside. Stops at the first gap below `below`
 * ms, or after 200 due times.
 */
export function shortestGapMs(cron: string, timezone: string, below: number, from = new Date()): number {
  const dates = CronExpressionParser.parse(cron, { tz: timezone, strict: false, currentDate: from });
  const first = dates.next().getTime();
  const horizon = Math.max(DAY_MS, 2 * below);
  let previous = first;
  let shortest = Infinity;
  for (let count = 1; count < 200; count++) {
    if (!dates.hasNext()) break;
    const next = dates.next().getTime();
    shortest = Math.min(shortest, next - previous);
    previous = next;
    if (shortest < below || (count >= 2 && next - first >= horizon)) break;
  }
  return shortest;
}

/**
 * Checks a cron expression (5 fields, or 6 with seconds first) and its time zone the way
 * the scheduler will read them, and that it fires at most once per `minIntervalSeconds`
 * (REPORT_MIN_INTERVAL_SECONDS: a cron firing every second kept a worker busy);
 * returns the field errors, empty when both are good.
 */
export function scheduleErrors(cron: string | undefined, timezone: string | undefined, minIntervalSeconds = 0): FieldError[] {
  const errors: FieldError[] = [];
  const zoneOk = timezone === undefined || isTimeZone(timezone);
  if (!zoneOk) errors.push({ field: 'timezone', message: `"${timezone}" is not an IANA time zone (e.g. "Europe/Paris", "UTC")` });
  if (cron !== undefined) {
    const fields = cron.trim().split(/\s+/).length;
    if (fields < 5 || fields > 6) {
      errors.push({ field: 'cron', message: 'must have 5 fields (minute hour day month weekday), or 6 with seconds first' });
    } else {
      const tz = zoneOk && timezone ? timezone : 'UTC';
      let gapMs = Infinity;
      try {
        CronExpressionParser.parse(cron, { tz, strict: false }).next();
        gapMs = shortestGapMs(cron, tz, minIntervalSeconds * 1000);
      } catch (error) {
        errors.push({ field: 'cron', message: `is not a valid cron expression: ${(error as Error).message}` });
      }
      if (gapMs < minIntervalSeconds * 1000) {
        errors.push({
          field: 'cron',
          message: `fires ${describeGap(gapMs)} after a previous send; scheduled sends must be at least ${describeGap(minIntervalSeconds * 1000)} apart`,
        });
      }
    }
  }
  return errors;
}

function describeGap(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
