import { Injectable, Logger } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Principal } from '../auth/principal';
import { ForbiddenError } from '../errors/domain-error';

/** One sample of a metric read at scrape time: its labels and value. */
export interface MetricSample {
  labels?: Record<string, string>;
  value: number;
}

/** A counter or gauge whose samples are read when Prometheus scrapes (totals kept elsewhere: Postgres, the pools). */
export interface SampledMetric {
  /** snake_case, prefixed `verdict_`; counters end in `_total`. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames?: readonly string[];
  read: () => Promise<MetricSample[]> | MetricSample[];
}

/** Who reads the operator metrics: the bootstrap admin key, or a holder of METRICS_TOKEN (checked by the HTTP layer). */
export type MetricsReader = { kind: 'key'; principal: Principal } | { kind: 'token' };

/** Seconds: from a fast API call (1 ms) to a long gateway stream (5 min). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The operator metrics GET /metrics serves (docs/adr/0033), on a prom-client Registry of its
 * own (one per application, so tests that run several apps in a process never share series).
 * Contexts add their metrics at start-up: live counters and histograms they update
 * (`registry`), or counters and gauges read at scrape time (`sampled`: ingestion's totals in
 * Postgres, the gateway's pools, the queues). A sampled metric whose read fails is logged and
 * shows no sample in that scrape, so one broken source never hides the others.
 */
@Injectable()
export class OperatorMetrics {
  private readonly logger = new Logger(OperatorMetrics.name);
  readonly registry = new Registry();
  /** Grows at every scrape: sources that feed several metrics read once per scrape by keying on it. */
  private scrapes = 0;
  private readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'route' | 'method' | 'status'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new Counter({
      name: 'verdict_http_requests_total',
      help: 'HTTP requests answered by this replica, by route pattern (not the raw URL), method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'verdict_http_request_duration_seconds',
      help: 'Time from the request to the end of its answer (streams included), by route pattern, method and status.',
      labelNames: ['route', 'method', 'status'],
      buckets: DURATION_BUCKETS,
      registers: [this.registry],
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * One answered HTTP request. `route` is the matched route's pattern (`/v1/experiments/:key`),
   * or null when no route matched (label `unmatched`): labels stay bounded whatever URLs clients send.
   */
  observeHttp(route: string | null | undefined, method: string, status: number, seconds: number): void {
    const labels = { route: route ?? 'unmatched', method: HTTP_METHODS.has(method) ? method : 'other', status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  /** A counter or gauge read at scrape time. */
  sampled(metric: SampledMetric): void {
    const logger = this.logger;
    const options = {
      name: metric.name,
      help: metric.help,
      labelNames: [...(metric.labelNames ?? [])],
      registers: [this.registry],
    };
    if (metric.type === 'gauge') {
      new Gauge({
        ...options,
        async collect() {
          const samples = await readSafely(metric, logger);
          this.reset();
          // Unknown, not 0: a lag or a depth that could not be read must not look healthy.
          if (samples === null && options.labelNames.length === 0) this.set(Number.NaN);
          for (const s of samples ?? []) {
            if (s.labels) this.set(s.labels, s.value);
            else this.set(s.value);
          }
        },
      });
    } else {
      new Counter({
        ...options,
        async collect() {
          const samples = await readSafely(metric, logger);
          this.reset();
          for (const s of samples ?? []) {
            if (s.labels) this.inc(s.labels, s.value);
            else this.inc(s.value);
          }
        },
      });
    }
  }

  /** The operator's: totals across every project, so only the bootstrap admin key (VERDICT_ADMIN_KEY) or the METRICS_TOKEN reads them. */
  async renderFor(reader: MetricsReader): Promise<string> {
    if (reader.kind === 'key' && !reader.principal.isBootstrap) {
      throw new ForbiddenError('Only the bootstrap admin key (VERDICT_ADMIN_KEY) or the METRICS_TOKEN may read the operator metrics.');
    }
    return this.render();
  }

  render(): Promise<string> {
    this.scrapes++;
    return this.registry.metrics();
  }

  /** The current scrape's number (see `scrapes`). */
  get scrapeId(): number {
    return this.scrapes;
  }
}

/** The samples, or null when the source failed (logged). */
async function readSafely(metric: SampledMetric, logger: Logger): Promise<MetricSample[] | null> {
  try {
    return await metric.read();
  } catch (error) {
    logger.error({ err: error, metric: metric.name }, 'a metrics source failed');
    return null;
  }
}

/**
 * Bounds the label values a metric may take (experiment and variant keys are user-defined):
 * the first `max` distinct tuples keep their values, later ones are counted under `other`
 * in every position. Memory is bounded by `max`.
 */
export class LabelBudget {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  labels<K extends string>(values: Record<K, string>): Record<K, string> {
    const key = JSON.stringify(values);
    if (this.seen.has(key)) return values;
    if (this.seen.size < this.max) {
      this.seen.add(key);
      return values;
    }
    return Object.fromEntries(Object.keys(values).map((k) => [k, 'other'])) as Record<K, string>;
  }
}
