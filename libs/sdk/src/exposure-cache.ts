import type { Assignment } from './types';

interface Seen {
  variant: string | null;
  phase: number;
  tick: number;
}

/**
 * Remembers which units were already exposed, per experiment, so that the assignment
 * hook and the exposure log fire once per unit, experiment and phase (a unit that moves
 * to another variant or phase is exposed again). Bounded: at most `capacity` units per
 * experiment, evicting the least recently used. A hit only re-orders the entry when it
 * has aged past half the capacity, which keeps hits cheap (no Map re-insert per call)
 * while a unit seen steadily is never evicted.
 */
export class ExposureCache {
  private readonly byExperiment = new Map<string, Map<string, Seen>>();
  private tick = 0;

  constructor(private readonly capacity: number) {}

  /** True the first time this unit is seen with this variant and phase. */
  firstSeen(a: Assignment, unitId: string): boolean {
    let units = this.byExperiment.get(a.experiment);
    if (units === undefined) {
      units = new Map();
      this.byExperiment.set(a.experiment, units);
    }
    const tick = ++this.tick;
    const seen = units.get(unitId);
    if (seen !== undefined) {
      if (seen.variant === a.variant && seen.phase === a.phase) {
        if (tick - seen.tick > this.capacity >> 1) {
          units.delete(unitId);
          seen.tick = tick;
          units.set(unitId, seen);
        }
        return false;
      }
      units.delete(unitId);
    }
    units.set(unitId, { variant: a.variant, phase: a.phase, tick });
    if (units.size > this.capacity) units.delete(units.keys().next().value!);
    return true;
  }

  /** Forgets experiments that left the snapshot. */
  retain(experimentKeys: Set<string>): void {
    for (const key of this.byExperiment.keys()) if (!experimentKeys.has(key)) this.byExperiment.delete(key);
  }

  size(experimentKey: string): number {
    return this.byExperiment.get(experimentKey)?.size ?? 0;
  }
}
