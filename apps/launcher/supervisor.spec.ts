import { DEFAULT_RESTART_POLICY, restartDelay } from './supervisor';

describe('restartDelay', () => {
  it('starts at 1 s and doubles with each crash in a row up to 30 s', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 50].map((crashes) => restartDelay(crashes, DEFAULT_RESTART_POLICY));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  });

  it('stays bounded however long the streak', () => {
    expect(restartDelay(10_000, DEFAULT_RESTART_POLICY)).toBe(30_000);
  });
});
