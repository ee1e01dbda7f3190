import { isTimeZone, scheduleErrors, shortestGapMs } from './schedule-validation';

describe('scheduleErrors', () => {
  it('accepts 5- and 6-field crons in IANA zones', () => {
    expect(scheduleErrors('0 9 * * 1', 'Europe/Paris')).toEqual([]);
    expect(scheduleErrors('*/2 * * * * *', 'UTC')).toEqual([]);
  });

  it('names the cron field when the expression is wrong', () => {
    expect(scheduleErrors('0 9 * *', 'UTC')).toEqual([expect.objectContaining({ field: 'cron' })]);
    expect(scheduleErrors('61 9 * * *', 'UTC')).toEqual([expect.objectContaining({ field: 'cron' })]);
    expect(scheduleErrors('every monday', 'UTC')).toEqual([expect.objectContaining({ field: 'cron' })]);
  });

  it('names the timezone field when the zone is unknown', () => {
    expect(scheduleErrors('0 9 * * *', 'Mars/Olympus')).toEqual([expect.objectContaining({ field: 'timezone' })]);
    expect(isTimeZone('America/New_York')).toBe(true);
    expect(isTimeZone('')).toBe(false);
  });
});

describe('minimum interval between scheduled sends', () => {
  const HOUR = 3600;

  it('refuses a cron that fires more often than the minimum, naming cron', () => {
    for (const cron of ['* * * * * *', '*/2 * * * * *', '* * * * *', '*/30 * * * *', '0,30 9 * * 1', '0,1 0 9 * * *', '* * 1 1 *']) {
      expect({ cron, errors: scheduleErrors(cron, 'Europe/Paris', HOUR) }).toEqual({
        cron,
        errors: [{ field: 'cron', message: expect.stringMatching(/scheduled sends must be at least 1 h apart/) }],
      });
    }
    expect(scheduleErrors('* * * * * *', 'UTC', HOUR)[0].message).toMatch(/^fires 1 s after/);
  });

  it('accepts crons at or above the minimum, hourly to yearly, leap days included', () => {
    for (const cron of ['0 * * * *', '0 9 * * 1', '0 0,23 * * *', '15 9,17 * * 1-5', '0 0 1 1 *', '0 9 29 2 *', '0 0 * * * *']) {
      expect({ cron, errors: scheduleErrors(cron, 'America/New_York', HOUR) }).toEqual({ cron, errors: [] });
    }
    expect(scheduleErrors('*/2 * * * * *', 'UTC', 1)).toEqual([]);
  });

  it('finds the gap across midnight and across days, with a minimum longer than a day', () => {
    expect(shortestGapMs('0 0,23 * * *', 'UTC', 2 * HOUR * 1000)).toBe(HOUR * 1000);
    expect(scheduleErrors('0 9 * * 1,2', 'UTC', 7 * 24 * HOUR)).toEqual([expect.objectContaining({ field: 'cron' })]);
    expect(scheduleErrors('0 9 * * 1', 'UTC', 7 * 24 * HOUR)).toEqual([]);
  });
});
