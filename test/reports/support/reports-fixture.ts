import { experimentBody } from '../../factories/experiment.factory';
import { rng } from '../../factories/seeded';
import { eventually } from '../../support/test-worker';
import { AnalysisFixture, type ArmModel } from '../../analysis/support/analysis-fixture';

/** Per-variant behaviour of the synthetic model calls. */
export type Arm = Pick<ArmModel, 'success' | 'latencyMedian' | 'costUsd'>;

export const BASE_ARM: Arm = { success: 0.7, latencyMedian: 800, costUsd: 0.01 };

/** The analysis fixture's clients and results, with experiments seeded through /v1/assign/batch. */
export class ReportsFixture extends AnalysisFixture {
  /**
   * A running experiment with `units` users (two events each) assigned through
   * /v1/assign/batch (which logs their exposures) and outcomes from the per-variant arms;
   * returns once the results count every event.
   */
  async seeded(options: { units: number; seed: number; arms: Record<string, Arm>; overrides?: Record<string, unknown> }): Promise<{ key: string; id: string }> {
    const body = experimentBody({
      variants: [
        { key: 'control', weight: 1, isControl: true },
        { key: 'treatment', weight: 1 },
      ],
      metrics: {
        primary: { name: 'success_rate', goal: 'increase' },
        secondary: [{ name: 'score', goal: 'increase' }],
        guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }],
      },
      stats: { alpha: 0.05, sequential: true },
      ...options.overrides,
    });
    const created = await this.admin.post('/v1/experiments', body);
    if (created.status !== 201) throw new Error(`experiment not created: ${JSON.stringify(created.body)}`);
    expect((await this.admin.post(`/v1/experiments/${body.key}/start`)).status).toBe(200);
    const sdk = await this.sdk();
    const r = rng(options.seed);
    const events: Array<Record<string, unknown>> = [];
    const unitIds = Array.from({ length: options.units }, (_, u) => `${body.key}-u${u}`);
    for (let i = 0; i < unitIds.length; i += 1000) {
      const res = await sdk.post('/v1/assign/batch', { items: unitIds.slice(i, i + 1000).map((unitId) => ({ experiment: body.key, unitId })) });
      expect(res.status).toBe(200);
      res.body.assignments.forEach((a: { variant: string }, j: number) => {
        const arm = options.arms[a.variant];
        for (let e = 0; e < 2; e++) {
          const latencyMs = Math.round(arm.latencyMedian * Math.exp(0.4 * r.normal()) * 10) / 10;
          events.push({
            id: `${unitIds[i + j]}-e${e}`,
            experiment: body.key,
            unitId: unitIds[i + j],
            latencyMs,
            inputTokens: 300,
            outputTokens: 120,
            costUsd: Math.round(arm.costUsd * (0.5 + r.next()) * 1e6) / 1e6,
            success: r.next() < arm.success,
            score: Math.round(Math.min(1, Math.max(0, 0.7 + 0.15 * r.normal())) * 1000) / 1000,
          });
        }
      });
    }
    for (let i = 0; i < events.length; i += 1000) {
      const res = await sdk.post('/v1/outcomes', { events: events.slice(i, i + 1000) });
      expect(res.status).toBe(202);
      expect(res.body.rejected).toEqual([]);
    }
    await eventually(async () => {
      const res = await this.admin.get(`/v1/experiments/${body.key}/results`);
      const counted = res.status === 200 ? res.body.variants.reduce((n: number, v: { events: number }) => n + v.events, 0) : 0;
      const exposed = res.status === 200 ? Object.values(res.body.srm.counts as Record<string, number>).reduce((n, c) => n + c, 0) : 0;
      return counted === events.length && exposed === options.units;
    }, 30_000, 200);
    return { key: body.key, id: created.body.id };
  }
}
