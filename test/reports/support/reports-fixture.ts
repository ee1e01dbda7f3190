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
   * returns once the results count every event. `history`: each user has a persistent success level and
   * four baseline outcomes (no experiment) three days before, so the results carry CUPED figures.
   */
  async seeded(options: { units: number; seed: number; arms: Record<string, Arm>; overrides?: Record<string, unknown>; history?: boolean }): Promise<{ key: string; id: string }> {
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
    const shift = new Map(options.history ? unitIds.map((u) => [u, 0.25 * r.normal()]) : []);
    const successOf = (unitId: string, base: number) => r.next() < Math.min(0.98, Math.max(0.02, base + (shift.get(unitId) ?? 0)));
    if (options.history) {
      const threeDaysAgo = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 2.5 * 86_400_000).toISOString();
      const baseline = unitIds.flatMap((unitId) =>
        [0, 1, 2, 3].map((k) => ({ id: `${unitId}-pre${k}`, unitId, timestamp: threeDaysAgo, success: successOf(unitId, BASE_ARM.success), latencyMs: 800 })),
      );
      for (let i = 0; i < baseline.length; i += 1000) {
        const res = await sdk.post('/v1/outcomes', { events: baseline.slice(i, i + 1000) });
        expect(res.status).toBe(202);
        expect(res.body.rejected).toEqual([]);
      }
      await eventually(async () => {
        const [row] = await this.t.db.query('SELECT COALESCE(sum(events), 0)::int AS n FROM baseline_unit_day WHERE unit_id = ANY($1::text[])', [unitIds]);
        return row.n === baseline.length;
      }, 30_000, 100);
    }
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
            success: successOf(unitIds[i + j], arm.success),
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
