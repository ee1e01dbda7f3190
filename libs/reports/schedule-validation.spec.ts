import { isTimeZone, scheduleErrors } from './schedule-validation';

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
