import { SnapshotIndex } from '../../../libs/assignment/core/assign';
import { experimentBody } from '../../factories/experiment.factory';
import { rng } from '../../factories/seeded';
import { client } from '../../support/http-client';
import type { TestApp } from '../../support/test-app';
import { eventually } from '../../support/test-worker';

export type Client = ReturnType<typeof client>;

/** What a test sends for one event (unit and variant known to the test). */
export interface SentEvent {
  id: string;
  unitId: string;
  variant: string;
  latencyMs: number;
  ttftMs: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  success: boolean;
  score: number;
  error?: string;
}


/** Per-variant behaviour of the synthetic model calls. */
export interface ArmModel {
  success: number;
  latencyMedian: number;
  costUsd: number;
  scoreMean?: number;
  errorRate?: number;
}

export function behaviour(r: ReturnType<typeof rng>, arm: ArmModel): Omit<SentEvent, 'id' | 'unitId' | 'variant'> {
  const latencyMs = Math.round(r.lognormal(arm.latencyMedian, 0.4) * 10) / 10;
  const error = r.next() < (arm.errorRate ?? 0.02);
  return {
    latencyMs,
    ttftMs: Math.round(latencyMs * 0.2 * 10) / 10,
    inputTokens: 300 + Math.floor(r.next() * 400),
    outputTokens: 100 + Math.floor(r.next() * 200),
    costUsd: Math.round(arm.costUsd * (0.5 + r.next()) * 1e6) / 1e6,
    success: !error && r.next() < arm.success,
    score: Math.round(Math.min(1, Math.max(0, (arm.scoreMean ?? 0.7) + 0.15 * r.normal())) * 1000) / 1000,
    ...(error ? { error: 'upstream_timeout' } : {}),
  };
}

export class AnalysisFixture {
  readonly admin: Client;
  private sdkClient: Client | null = null;

  constructor(protected readonly t: TestApp) {
    this.admin = client(t.url, t.adminKey);
  }

  async sdk(): Promise<Client> {
    if (!this.sdkClient) {
      const key = await this.admin.post('/v1/api-keys', { name: 'analysis-backend', scope: 'sdk' });
      this.sdkClient = client(this.t.url, key.body.key);
    }
    return this.sdkClient;
  }

  /**
   * Creates and starts an experiment; returns its key, id and the local assignment index once the API serves it.
   * `createdAt` backdates its creation (before it starts, so the API loads it so), for tests that send events from
   * days ago: the API refuses events older than the experiment (docs/adr/0015).
   */
  async start(overrides: Record<string, unknown> = {}, options: { createdAt?: Date } = {}): Promise<{ key: string; id: string; index: SnapshotIndex }> {
    const body = experimentBody({
      variants: [
        { key: 'control', weight: 1, isControl: true },
        { key: 'treatment', weight: 1 },
      ],
      stats: { alpha: 0.05, sequential: true },
      ...overrides,
    });
    const created = await this.admin.post('/v1/experiments', body);
    if (created.status !== 201) throw new Error(`not created: ${JSON.stringify(created.body)}`);
    if (options.createdAt) await this.t.db.query(`UPDATE experiment SET created_at = $2 WHERE id = $1`, [created.body.id, options.createdAt]);
    expect((await this.admin.post(`/v1/experiments/${body.key}/start`)).status).toBe(200);
    const sdk = await this.sdk();
    let index: SnapshotIndex | null = null;
    await eventually(async () => {
      index = new SnapshotIndex((await sdk.get('/v1/sdk/config')).body);
      return index.has(body.key);
    });
    return { key: body.key, id: created.body.id, index: index! };
  }

  /** Sends exposures through POST /v1/exposures (as an SDK that assigns locally would). */
  async expose(key: string, units: Array<{ unitId: string; variant: string }>): Promise<void> {
    const sdk = await this.sdk();
    for (let i = 0; i < units.length; i += 1000) {
      const res = await sdk.post('/v1/exposures', { exposures: units.slice(i, i + 1000).map((u) => ({ experiment: key, ...u })) });
      expect(res.status).toBe(202);
      expect(res.body.rejected).toEqual([]);
    }
    await eventually(async () => {
      const [row] = await this.t.db.query(
        'SELECT COALESCE(sum(units), 0)::int AS n FROM exposure_count c JOIN experiment e ON e.id = c.experiment_id WHERE e.key = $1',
        [key],
      );
      return row.n === units.length;
    }, 30_000);
  }

  /**
   * Generates `units` users with some events each from the per-variant models, exposes
   * them, sends the outcomes through POST /v1/outcomes and waits for the worker.
   */
  async run(
    exp: { key: string; id: string; index: SnapshotIndex },
    options: { units: number; eventsPerUnit: (r: ReturnType<typeof rng>) => number; arms: Record<string, ArmModel>; seed: number },
  ): Promise<SentEvent[]> {
    const r = rng(options.seed);
    const events: SentEvent[] = [];
    const units: Array<{ unitId: string; variant: string }> = [];
    for (let u = 0; u < options.units; u++) {
      const unitId = `${exp.key}-u${u}`;
      const variant = exp.index.assign(exp.key, unitId).variant!;
      units.push({ unitId, variant });
      const k = options.eventsPerUnit(r);
      for (let j = 0; j < k; j++) events.push({ id: `${unitId}-e${j}`, unitId, variant, ...behaviour(r, options.arms[variant]) });
    }
    await this.expose(exp.key, units);
    await this.sendOutcomes(exp, events.map(({ variant: _variant, ...e }) => e), events.length);
    return events;
  }

  /** Posts outcome events (without `experiment`) 1,000 a request, all accepted, and waits until the experiment has `total` events stored. */
  async sendOutcomes(exp: { key: string; id: string }, events: object[], total: number): Promise<void> {
    const sdk = await this.sdk();
    for (let i = 0; i < events.length; i += 1000) {
      const res = await sdk.post('/v1/outcomes', { events: events.slice(i, i + 1000).map((e) => ({ experiment: exp.key, ...e })) });
      expect(res.status).toBe(202);
      expect(res.body.rejected).toEqual([]);
    }
    await eventually(async () => {
      const [row] = await this.t.db.query(`SELECT COALESCE(sum(n), 0)::int AS n FROM outcome_moment WHERE experiment_id = $1 AND metric = '$events'`, [exp.id]);
      return row.n === total;
    }, 60_000);
  }

  async results(key: string): Promise<any> {
    const res = await this.admin.get(`/v1/experiments/${key}/results`);
    if (res.status !== 200) throw new Error(`results ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }
}
