import { Logger } from '@nestjs/common';
import { LabelBudget, OperatorMetrics } from './operator-metrics';

const lines = (text: string) => text.split('\n').filter((l) => l.startsWith('verdict_'));

describe('OperatorMetrics', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('reads sampled metrics at scrape time, and leaves out the samples of one that fails', async () => {
    const metrics = new OperatorMetrics();
    let level = 1;
    metrics.sampled({ name: 'verdict_a', help: 'a', type: 'gauge', read: () => [{ value: level }] });
    metrics.sampled({ name: 'verdict_broken', help: 'b', type: 'gauge', labelNames: ['kind'], read: async () => { throw new Error('database away'); } });
    metrics.sampled({ name: 'verdict_lag', help: 'l', type: 'gauge', read: async () => { throw new Error('queue away'); } });
    metrics.sampled({ name: 'verdict_c_total', help: 'c', type: 'counter', labelNames: ['kind'], read: async () => [{ labels: { kind: 'a"b' }, value: 3 }] });
    // Unlabelled and unreadable: NaN (unknown), not 0. prom-client writes it `Nan`, which Prometheus parses (case-insensitive).
    expect(lines(await metrics.render())).toEqual(['verdict_a 1', 'verdict_lag Nan', 'verdict_c_total{kind="a\\"b"} 3']);
    level = 2;
    expect(lines(await metrics.render())).toContain('verdict_a 2');
  });

  it('counts HTTP requests by route pattern, method and status; unknown methods and routes are folded', async () => {
    const metrics = new OperatorMetrics();
    metrics.observeHttp('/v1/experiments/:key', 'GET', 200, 0.003);
    metrics.observeHttp('/v1/experiments/:key', 'GET', 200, 0.2);
    metrics.observeHttp(undefined, 'BREW', 404, 0.001);
    const text = await metrics.render();
    expect(text).toContain('verdict_http_requests_total{route="/v1/experiments/:key",method="GET",status="200"} 2');
    expect(text).toContain('verdict_http_request_duration_seconds_count{route="/v1/experiments/:key",method="GET",status="200"} 2');
    expect(text).toContain('verdict_http_request_duration_seconds_bucket{le="0.005",route="/v1/experiments/:key",method="GET",status="200"} 1');
    expect(text).toContain('verdict_http_requests_total{route="unmatched",method="other",status="404"} 1');
    // Default process metrics come along.
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('admits the bootstrap key and the token, not another admin key', async () => {
    const metrics = new OperatorMetrics();
    const principal = { keyId: 'k', keyName: 'n', projectId: 'p', scope: 'admin' as const, isBootstrap: false };
    await expect(metrics.renderFor({ kind: 'key', principal })).rejects.toMatchObject({ status: 403 });
    await expect(metrics.renderFor({ kind: 'key', principal: { ...principal, isBootstrap: true } })).resolves.toContain('verdict_http_requests_total');
    await expect(metrics.renderFor({ kind: 'token' })).resolves.toContain('verdict_http_requests_total');
  });
});

describe('LabelBudget', () => {
  it('keeps the first tuples and folds later ones into other', () => {
    const budget = new LabelBudget(2);
    expect(budget.labels({ experiment: 'a', variant: 'x' })).toEqual({ experiment: 'a', variant: 'x' });
    expect(budget.labels({ experiment: 'b', variant: 'x' })).toEqual({ experiment: 'b', variant: 'x' });
    expect(budget.labels({ experiment: 'c', variant: 'x' })).toEqual({ experiment: 'other', variant: 'other' });
    expect(budget.labels({ experiment: 'a', variant: 'x' })).toEqual({ experiment: 'a', variant: 'x' });
  });
});
