import { Logger } from '@nestjs/common';
import type { ProjectSnapshot } from '../assignment/snapshot.service';
import { DEFAULT_UPSTREAM_HEALTH, type Upstream } from '../experiments/experiment.types';
import type { OutboundClient, OutboundRequest } from '../outbound/outbound-client';
import { HealthProber } from './health-prober';
import { InstancePools } from './instance-pool';

const upstream = (baseUrls: string[], probe = true): Upstream => ({
  instances: baseUrls.map((baseUrl) => ({ baseUrl, weight: 1, model: null, apiKeyEnv: null })),
  model: 'm',
  apiKeyEnv: 'KEY_ENV',
  params: {},
  systemPromptPrefix: null,
  headers: { 'x-team': 'ml' },
  includeUsage: true,
  timeoutMs: 1000,
  totalTimeoutMs: 1000,
  health: { ...DEFAULT_UPSTREAM_HEALTH, failures: 1, ...(probe ? { probe: { intervalMs: 1000, path: '/models', timeoutMs: 500 } } : {}) },
});

function snapshot(state: 'running' | 'concluded', upstreams: Record<string, Upstream>, revision: string): ProjectSnapshot {
  return {
    revision,
    upstreams: new Map([['exp', upstreams]]),
    snapshot: {
      version: revision,
      generatedAt: '',
      experiments: [
        {
          key: 'exp', salt: 's', unitType: 'user', state, phase: 1, trafficAllocation: 1, forced: {}, winner: state === 'concluded' ? 'big' : null, layer: null,
          variants: [{ key: 'big', isControl: true }, { key: 'small', isControl: false }] as never,
        },
      ],
    },
  } as unknown as ProjectSnapshot;
}

describe('HealthProber', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('probes each instance of the pools in use at its interval, one at a time, and stops for pools out of use', async () => {
    let now = 0;
    const requests: OutboundRequest[] = [];
    const pending: Array<{ resolve: (status: number) => void; reject: (e: Error) => void; signal?: AbortSignal }> = [];
    const outbound = {
      request: (input: OutboundRequest) => {
        requests.push(input);
        return new Promise((resolve, reject) => {
          pending.push({ resolve: (status) => resolve({ status, headers: {}, body: Buffer.alloc(0) }), reject, signal: input.signal });
          input.signal?.addEventListener('abort', () => reject(new Error('aborted')));
        });
      },
    } as unknown as OutboundClient;
    const pools = new InstancePools(() => now);
    let current = snapshot('running', { big: upstream(['http://big/v1'], false), small: upstream(['http://a/v1', 'http://b/v1']) }, 'r1');
    const results: boolean[] = [];
    const prober = new HealthProber({ pools, snapshots: () => [['p', current]], outbound, credential: (name) => (name === 'KEY_ENV' ? 'secret' : undefined), onResult: (ok) => results.push(ok), now: () => now });

    prober.tick();
    // Only the probed pool; the credential and the upstream's headers go along.
    expect(requests.map((r) => r.url)).toEqual(['http://a/v1/models', 'http://b/v1/models']);
    expect(requests[0]).toMatchObject({ method: 'GET', timeoutMs: 500, headers: { authorization: 'Bearer secret', 'x-team': 'ml' } });
    // Still in flight at the next interval: no second probe of the same instance.
    now = 1500;
    prober.tick();
    expect(requests).toHaveLength(2);
    pending[0].resolve(200);
    pending[1].resolve(503);
    await new Promise((resolve) => setImmediate(resolve));
    expect(results).toEqual([true, false]);
    // B's failed probe cooled it down (failures: 1).
    expect(pools.view('p').find((v) => v.baseUrl === 'http://b/v1')?.cooledUntil).not.toBeNull();
    prober.tick();
    expect(requests).toHaveLength(4);

    // B leaves the pool (a PATCH): its probe in flight is aborted and says nothing; A goes on.
    current = snapshot('running', { small: upstream(['http://a/v1']) }, 'r2');
    prober.tick();
    expect(pending[3].signal?.aborted).toBe(true);
    expect(pending[2].signal?.aborted).toBe(false);
    expect(prober.size).toBe(1);
    pending[2].resolve(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(results).toEqual([true, false, true]);

    // Concluded with the unprobed control as the winner: nothing left to probe.
    current = snapshot('concluded', { big: upstream(['http://big/v1'], false), small: upstream(['http://a/v1']) }, 'r3');
    now = 5000;
    prober.tick();
    expect(prober.size).toBe(0);
    expect(requests).toHaveLength(4);

    prober.stop();
  });
});
