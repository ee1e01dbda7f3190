/**
 * Thrown when inputs cannot give a meaningful statistic (too few units, a zero
 * baseline for a relative lift, a non-positive variance, mismatched lengths). The
 * library prefers refusing to answering wrongly; callers show "not enough data".
 */
export class StatsInputError extends Error {
  override readonly name = 'StatsInputError';
}
