import OpenAI from 'openai';
import type { DataSource } from 'typeorm';
import { experimentBody } from '../../factories/experiment.factory';
import { client } from '../../support/http-client';
import type { FakeUpstream } from './fake-upstream';

export type Client = ReturnType<typeof client>;

/** Settings a gateway test needs: upstreams on loopback (through the outbound guard's allowlist) and a credential to pass on. */
export const GATEWAY_TEST_SETTINGS = {
  OUTBOUND_ALLOW_HTTP: 'true',
  OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32',
  FAKE_UPSTREAM_API_KEY: 'upstream-credential-for-tests',
};

/** A running experiment whose variants `big` (control) and `small` go to the two fake upstreams. */
export async function gatewayExperiment(
  url: string,
  adminKey: string,
  big: FakeUpstream,
  small: FakeUpstream,
  overrides: Record<string, unknown> = {},
  upstreamOverrides: { big?: Record<string, unknown>; small?: Record<string, unknown> } = {},
): Promise<{ key: string; id: string; sdkKey: string; sdk: Client; admin: Client; openai: OpenAI }> {
  const admin = client(url, adminKey);
  const body = experimentBody({
    variants: [
      {
        key: 'big', weight: 1, isControl: true, config: { model: '70B' }, pricing: { inputPer1M: 1, outputPer1M: 2 },
        upstream: { baseUrl: big.url, model: 'llama-70b', apiKeyEnv: 'FAKE_UPSTREAM_API_KEY', ...upstreamOverrides.big },
      },
      {
        key: 'small', weight: 1, config: { model: '8B' }, pricing: { inputPer1M: 0.1, outputPer1M: 0.2 },
        upstream: { baseUrl: small.url, model: 'llama-8b', ...upstreamOverrides.small },
      },
    ],
    ...overrides,
  });
  const created = await admin.post('/v1/experiments', body);
  if (created.status !== 201) throw new Error(`experiment not created: ${JSON.stringify(created.body)}`);
  const started = await admin.post(`/v1/experiments/${body.key}/start`);
  if (started.status !== 200) throw new Error(`experiment not started: ${JSON.stringify(started.body)}`);
  const key = await admin.post('/v1/api-keys', { name: `sdk-${body.key}`, scope: 'sdk' });
  const sdk = client(url, key.body.key);
  for (let i = 0; i < 100; i++) {
    const a = await sdk.post('/v1/assign', { experiment: body.key, unitId: 'probe' });
    if (a.status === 200 && a.body.reason !== 'unknown_experiment') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const openai = new OpenAI({ apiKey: key.body.key, baseURL: `${url}/v1`, maxRetries: 0, timeout: 20_000 });
  return { key: body.key, id: created.body.id, sdkKey: key.body.key, sdk, admin, openai };
}

/** A unit id that the experiment assigns to `variant` (asked of /v1/assign, the same assignment the gateway uses). */
export async function unitIn(sdk: Client, experiment: string, variant: string, prefix = 'user'): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const unitId = `${prefix}-${i}`;
    const a = await sdk.post('/v1/assign', { experiment, unitId });
    if (a.body.variant === variant && a.body.inExperiment) return unitId;
  }
  throw new Error(`no unit lands in ${variant}`);
}

export interface StoredOutcome {
  event_id: string;
  unit_id: string;
  variant: string;
  latency_ms: number | null;
  ttft_ms: number | null;
  input_tokens: string | null;
  output_tokens: string | null;
  cost_usd: number | null;
  success: boolean | null;
  error: string | null;
}

export async function outcomes(db: DataSource, experimentId: string): Promise<StoredOutcome[]> {
  return db.query(
    `SELECT event_id, unit_id, variant, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, success, error FROM outcome_event WHERE experiment_id = $1 ORDER BY received_at, event_id`,
    [experimentId],
  );
}
