import type { ExperimentSnapshot, VariantSnapshot } from '../../../assignment/core/snapshot';
import type { ConfigSnapshot } from '../types';

export function variant(key: string, weight: number, extra: Partial<VariantSnapshot> = {}): VariantSnapshot {
  return { key, weight, isControl: false, rolledBack: false, config: { model: `model-${key}` }, ...extra };
}

export function experiment(extra: Partial<ExperimentSnapshot> = {}): ExperimentSnapshot {
  return {
    key: 'model-ab',
    salt: 'salt-model-ab',
    unitType: 'user',
    state: 'running',
    phase: 1,
    trafficAllocation: 1,
    variants: [variant('control', 0.5, { isControl: true }), variant('treatment', 0.5)],
    forced: {},
    winner: null,
    layer: null,
    ...extra,
  };
}

export function snapshot(version: string, experiments: ExperimentSnapshot[] = [experiment()]): ConfigSnapshot {
  return { version, generatedAt: new Date().toISOString(), experiments };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
