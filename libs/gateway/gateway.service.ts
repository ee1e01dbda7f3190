import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { AssignmentService } from '../assignment/assignment.service';
import type { Assignment } from '../assignment/core/snapshot';
import { SnapshotService } from '../assignment/snapshot.service';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { DEFAULT_PEAK_EWMA_TAU_MS, DEFAULT_UPSTREAM_HEALTH, type Upstream } from '../experiments/experiment.types';
import { IngestionService } from '../ingestion/ingestion.service';
import { DURATION_BUCKETS, LabelBudget, OperatorMetrics, type MetricSample } from '../observability/operator-metrics';
import { OutboundClient, type OutboundStreamResponse } from '../outbound/outbound-client';
import { OutboundError } from '../outbound/outbound.errors';
import { isStorableText, STORABLE_LIMITS } from '../storable/storable';
import { agreementOf, AnswerCapture, parsedBodyText, type Agreement } from './answer-text';
import { CaptureCollector, captureSampled, cut, promptOf } from './capture';
import { CaptureWriter } from './capture-writer';
import { GATEWAY_OUTBOUND } from './gateway-outbound';
import { HealthProber } from './health-prober';
import { InstancePools, type InstanceView, type Lease } from './instance-pool';
import { GatewayError, type OpenAiErrorBody } from './openai-error';
import { OutcomeRetryBuffer } from './outcome-retry';
import { StreamMeter, usageOf, type GatewayEndpoint, type Usage } from './stream-meter';

/**
 * How a call that did not succeed is classified in its outcome event (`error`):
 * - timeout: no answer headers, or no new chunk, within the upstream's timeoutMs, or the
 *   whole call past totalTimeoutMs;
 * - upstream_4xx / upstream_5xx: the upstream answered that status (forwarded as it is),
 *   or reported an error inside a stream (upstream_5xx);
 * - connect: nothing usable reached the upstream or came back from it (refused by the
 *   outbound guard, no credential, connection refused or reset, also mid-stream);
 * - invalid_response: a 2xx answer that is not JSON, or a stream that ended without its end marker;
 * - client_cancelled: the client went away first (docs/gateway.md, "Cancellations").
 */
export type GatewayErrorClass = 'timeout' | 'upstream_4xx' | 'upstream_5xx' | 'connect' | 'invalid_response' | 'client_cancelled';

/** Whether a call's end says its instance is healthy (a 4xx is the caller's fault; a cancelled call says nothing). */
function healthVerdict(error: GatewayErrorClass | null): boolean | null {
  if (error === 'client_cancelled') return null;
  return error === null || error === 'upstream_4xx';
}

const PATHS: Record<GatewayEndpoint, string> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
  responses: '/responses',
};

/** A non-streamed answer is read whole (to check it and read its usage) up to this size; larger is an invalid_response. */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
/** On shutdown, outcomes held for retry get this long to reach the queue (well within the launcher's 60 s before SIGKILL). */
export const OUTCOME_FLUSH_MS = 10_000;
/** Distinct (project, experiment, variant) label tuples in the gateway's metrics before `other`; the same per instance. */
const MAX_VARIANT_SERIES = 500;
const MAX_INSTANCE_SERIES = 500;
/** Streams are cut past this size (a runaway upstream). */
const MAX_STREAM_BYTES = 1024 * 1024 * 1024;
/** Answer headers passed through from the upstream (the OpenAI client reads them for retries and request ids). */
const PASSED_HEADERS = /^(content-type|content-encoding|x-request-id|request-id|openai-[a-z-]+|x-ratelimit-[a-z0-9-]+|ratelimit(-[a-z-]+)?|retry-after(-ms)?|x-should-retry)$/;

/** One instance of a variant's pool as the results page shows it. */
export interface InstanceState {
  variant: string;
  /** Without user:password@ (never stored, stripped anyway). */
  baseUrl: string;
  weight: number;
  inFlight: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  /** Share of failed calls in the health window; null without calls. */
  errorRate: number | null;
  calls: number;
  cooledUntil: string | null;
  /** Cool-downs on this replica since it started. */
  coolDowns: number;
  /** Whether active health probes watch it. */
  probe: boolean;
}

function withoutCredentials(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return baseUrl;
  }
}

/** What the gateway decided for a call before sending it. */
interface Plan {
  projectId: string;
  endpoint: GatewayEndpoint;
  experiment: string;
  unitId: string;
  assignment: Assignment;
  /** An outcome is recorded only for units the analysis counts (in the experiment, or forced for QA). */
  measured: boolean;
  eventId: string;
  upstream: Upstream;
  /** The variant whose pool serves the call (the assigned one; the control's after a fallback). */
  servedBy: string;
  /** The instance the call runs on now (changes once on failover); null when none is usable. */
  lease: Lease | null;
  /** Instances of the pool that already failed this call. */
  tried: Set<string>;
  fallback: boolean;
  stream: boolean;
  /** The client's body with the upstream's params; `model` is set per instance. */
  outgoing: Record<string, unknown>;
  /** Collects the served answer when a shadow copy runs beside it, for the agreement (docs/adr/0031); null otherwise. */
  capture: AnswerCapture | null;
  /** Collects the answer's text when the experiment captures this call (docs/adr/0039); null otherwise. */
  recorder: CaptureCollector | null;
}

/** A shadow copy running beside a served call: told the served answer's final text when the served call ends. */
interface ShadowLink {
  capture: AnswerCapture;
  settle(servedText: string | null): void;
}

interface Measured {
  status: number | null;
  ttftMs: number | null;
  latencyMs: number | null;
  usage: Usage | null;
  error: GatewayErrorClass | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The OpenAI-compatible gateway (issue #17, docs/gateway.md): picks the variant of the unit
 * from the in-memory snapshot (the same assignment as /v1/assign, exposures included),
 * sends the request to that variant's upstream through the outbound guard, forwards the
 * answer as it comes (status, passed headers, SSE bytes untouched, backpressure honoured,
 * the upstream call aborted when the client goes away), and records one outcome event per
 * call through the ingestion path: latency to the last byte, TTFT at the first content or
 * tool-call chunk, tokens from the usage (unknown when there is none), cost from the
 * variant's prices (computed by ingestion), and an error class.
 */
@Injectable()
export class GatewayService implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger(GatewayService.name);
  private inFlight = 0;
  private readonly pools: InstancePools;
  private readonly prober: HealthProber;
  private scrapeView: { scrape: number; rows: Array<InstanceView & { projectId: string }> } | null = null;
  /** Label tuples (project, experiment, variant[, instance]) the gateway's metrics may show before `other` (docs/adr/0033). */
  private readonly variantLabels = new LabelBudget(MAX_VARIANT_SERIES);
  private readonly instanceLabels = new LabelBudget(MAX_INSTANCE_SERIES);
  /** Calls answered on this replica since start, by result (`ok`, an error class, `fallback`). */
  private readonly calls: Counter<'result'>;
  private readonly failovers: Counter;
  private readonly requests: Counter<'project' | 'experiment' | 'variant' | 'status_class'>;
  private readonly duration: Histogram<'project' | 'experiment' | 'variant' | 'status_class'>;
  private readonly errors: Counter<'project' | 'experiment' | 'variant' | 'class'>;
  private readonly upstreamLatency: Histogram<'project' | 'experiment' | 'variant' | 'instance'>;
  /** Shadow copies in flight on this replica (bounded by GATEWAY_SHADOW_MAX_IN_FLIGHT). */
  private shadowInFlight = 0;
  /** Shadow copies finished, by result (`ok` or an error class). */
  private readonly shadowCalls: Counter<'result'>;
  /** Shadow copies dropped because the bound was reached, by project and experiment. */
  private readonly shadowDropped: Counter<'project' | 'experiment'>;
  /** Outcome events ingestion refused for a transient reason, held for retry (docs/adr/0038). */
  private readonly outcomeRetry: OutcomeRetryBuffer;

  constructor(
    private readonly snapshots: SnapshotService,
    private readonly assignment: AssignmentService,
    private readonly ingestion: IngestionService,
    @Inject(GATEWAY_OUTBOUND) private readonly outbound: OutboundClient,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
    private readonly metrics: OperatorMetrics,
    private readonly captures: CaptureWriter,
  ) {
    const registers = [metrics.registry];
    const variant = ['project', 'experiment', 'variant'] as const;
    this.calls = new Counter({ name: 'verdict_gateway_calls_total', help: 'Gateway calls answered by this replica, by result: ok, an error class, or fallback.', labelNames: ['result'], registers });
    this.failovers = new Counter({ name: 'verdict_gateway_failovers_total', help: 'Calls sent to a second instance of their pool after the first failed before any byte was answered.', registers });
    this.requests = new Counter({ name: 'verdict_gateway_requests_total', help: 'Gateway calls by experiment, assigned variant and the status class the client got (2xx, 4xx, 5xx; none when no answer started).', labelNames: [...variant, 'status_class'], registers });
    this.duration = new Histogram({ name: 'verdict_gateway_request_duration_seconds', help: 'Gateway calls from the request to the last byte, by experiment, assigned variant and status class.', labelNames: [...variant, 'status_class'], buckets: DURATION_BUCKETS, registers });
    this.errors = new Counter({ name: 'verdict_gateway_errors_total', help: 'Gateway calls that failed, by experiment, assigned variant and error class (as in the outcome event; fallback included).', labelNames: [...variant, 'class'], registers });
    this.upstreamLatency = new Histogram({ name: 'verdict_gateway_upstream_latency_seconds', help: 'Calls per upstream instance, to their last byte (failed calls with a known duration included).', labelNames: [...variant, 'instance'], buckets: DURATION_BUCKETS, registers });
    this.pools = new InstancePools(Date.now, Math.random, (pool, baseUrl, _ok, latencyMs) => {
      if (latencyMs === null) return;
      const [project, experiment, variantKey] = pool.split('\u0000');
      this.upstreamLatency.observe(this.instanceLabels.labels({ project, experiment, variant: variantKey, instance: baseUrl }), latencyMs / 1000);
    });
    this.shadowCalls = new Counter({ name: 'verdict_gateway_shadow_calls_total', help: 'Shadow copies finished on this replica, by result: ok or an error class.', labelNames: ['result'], registers });
    this.shadowDropped = new Counter({ name: 'verdict_gateway_shadow_dropped_total', help: 'Shadow copies dropped (not sent) because GATEWAY_SHADOW_MAX_IN_FLIGHT were in flight, by experiment.', labelNames: ['project', 'experiment'], registers });
    const outcomesDropped = new Counter({ name: 'verdict_gateway_outcomes_dropped_total', help: 'Gateway outcome events lost because the retry buffer (GATEWAY_OUTCOME_BUFFER_MAX) was full, by kind: served or shadow.', labelNames: ['kind'], registers });
    this.outcomeRetry = new OutcomeRetryBuffer({
      max: config.gateway.outcomeBufferMax,
      send: (projectId, events, items) => this.ingestion.recordOutcomes(projectId, { events }, items.map((i) => i.servedAs)),
      // Invalid input is a bug of the gateway (or an experiment that changed meanwhile), not a fault: never retried.
      onRejected: (item, errors, error) =>
        this.logger.warn({ eventId: item.event.id, shadowOf: item.event.shadowOf, errors: errors ?? undefined, err: error ?? undefined }, `${item.kind === 'shadow' ? 'shadow' : 'gateway'} outcome not recorded`),
      onDropped: (item) => outcomesDropped.inc({ kind: item.kind }),
      log: (fields, message) => this.logger.warn(fields, message),
    });
    const probes = new Counter({ name: 'verdict_gateway_probes_total', help: 'Active health probes answered by upstream instances on this replica, by result: ok (any status below 500) or failed.', labelNames: ['result'], registers });
    this.prober = new HealthProber({
      pools: this.pools,
      snapshots: () => snapshots.all(),
      outbound,
      credential: (name) => config.gateway.credential(name),
      onResult: (ok) => probes.inc({ result: ok ? 'ok' : 'failed' }),
    });
  }

  /** Probes stop (in flight ones aborted) before the outbound client closes. */
  onModuleDestroy(): void {
    this.prober.stop();
  }

  /**
   * Outcomes held for retry get until OUTCOME_FLUSH_MS to reach the queue (which closes after this
   * hook); what is left is lost with the process and logged as a count (docs/adr/0038).
   */
  async beforeApplicationShutdown(): Promise<void> {
    const held = this.outcomeRetry.depth;
    const left = await this.outcomeRetry.close(OUTCOME_FLUSH_MS);
    if (left > 0) this.logger.error({ left, flushMs: OUTCOME_FLUSH_MS }, 'gateway outcomes not recorded at shutdown: the queue did not accept them in time');
    else if (held > 0) this.logger.log({ flushed: held }, 'gateway outcomes held for retry were recorded before shutdown');
  }

  /** Outcome events held for retry on this replica (for tests, metrics and /ready). */
  get outcomesHeld(): number {
    return this.outcomeRetry.depth;
  }

  onModuleInit(): void {
    this.prober.start();
    const instanceLabels = ['project', 'experiment', 'variant', 'instance'];
    this.metrics.sampled({ name: 'verdict_gateway_in_flight', help: 'Gateway calls in flight on this replica.', type: 'gauge', read: () => [{ value: this.inFlight }] });
    this.metrics.sampled({ name: 'verdict_gateway_outcome_buffer_depth', help: 'Gateway outcome events held on this replica for retry because ingestion refused them (GATEWAY_OUTCOME_BUFFER_MAX at most).', type: 'gauge', read: () => [{ value: this.outcomeRetry.depth }] });
    this.metrics.sampled({ name: 'verdict_gateway_outcome_retries_total', help: 'Retried enqueues of held gateway outcome events (batches) on this replica, whatever their result.', type: 'counter', read: () => [{ value: this.outcomeRetry.retries }] });
    this.metrics.sampled({ name: 'verdict_gateway_shadow_in_flight', help: 'Shadow copies in flight on this replica.', type: 'gauge', read: () => [{ value: this.shadowInFlight }] });
    this.metrics.sampled({ name: 'verdict_gateway_cooldowns_total', help: 'Instances cooled down by health checks (passive or probes) on this replica.', type: 'counter', read: () => [{ value: this.pools.coolDownsTotal }] });
    const perInstance = (name: string, help: string, type: 'gauge' | 'counter', value: (i: InstanceView) => number | null, summed: boolean) =>
      this.metrics.sampled({ name, help, type, labelNames: instanceLabels, read: () => this.instanceSamples(value, summed) });
    perInstance('verdict_gateway_upstream_in_flight', 'Calls in flight per upstream instance on this replica.', 'gauge', (i) => i.inFlight, true);
    perInstance('verdict_gateway_upstream_latency_ms', 'Moving average of successful calls per upstream instance (ms; NaN before the first).', 'gauge', (i) => i.latencyMs ?? Number.NaN, false);
    perInstance('verdict_gateway_upstream_error_rate', 'Share of failed calls per upstream instance within its health window (NaN without calls).', 'gauge', (i) => i.errorRate ?? Number.NaN, false);
    perInstance('verdict_gateway_upstream_cooled', '1 while an upstream instance is cooled down.', 'gauge', (i) => (i.cooledUntil === null ? 0 : 1), true);
    perInstance('verdict_gateway_upstream_cooldowns_total', 'Cool-downs per upstream instance on this replica since it started.', 'counter', (i) => i.coolDownsTotal, true);
  }

  /** One sample per instance; past the label budget, `other`: summed for counts, left out for rates and latencies. */
  private instanceSamples(value: (i: InstanceView) => number | null, summed: boolean): MetricSample[] {
    const out = new Map<string, MetricSample>();
    // The five per-instance metrics of a scrape share one view of the pools.
    const scrape = this.metrics.scrapeId;
    if (this.scrapeView?.scrape !== scrape) this.scrapeView = { scrape, rows: this.pools.view(null, { quantiles: false }) };
    for (const i of this.scrapeView.rows) {
      const labels = this.instanceLabels.labels({ project: i.projectId, experiment: i.experiment, variant: i.variant, instance: i.baseUrl });
      const v = value(i) ?? Number.NaN;
      if (labels.instance === 'other') {
        if (!summed) continue;
        const other = out.get('other') ?? { labels, value: 0 };
        other.value += v;
        out.set('other', other);
      } else {
        out.set(JSON.stringify(labels), { labels, value: v });
      }
    }
    return [...out.values()];
  }

  /** Calls in flight on this replica (for tests and metrics). */
  get active(): number {
    return this.inFlight;
  }

  /** Shadow copies in flight on this replica (for tests). */
  get shadowActive(): number {
    return this.shadowInFlight;
  }

  /** GET /v1/gateway/upstreams: the state of every instance of the project's pools on this replica. */
  upstreams(projectId: string): InstanceView[] {
    return this.pools.view(projectId);
  }

  /**
   * The instances of an experiment's pools as configured now, each with this replica's state
   * (the results page): instances not called yet show no latency and no error rate.
   */
  instanceStates(projectId: string, experiment: string): InstanceState[] {
    const upstreams = this.snapshots.get(projectId).upstreams.get(experiment) ?? {};
    const states = new Map(this.pools.view(projectId).filter((v) => v.experiment === experiment).map((v) => [`${v.variant}\u0000${v.baseUrl}`, v]));
    const out: InstanceState[] = [];
    for (const [variant, upstream] of Object.entries(upstreams).sort(([x], [y]) => x.localeCompare(y))) {
      for (const instance of upstream.instances) {
        const state = states.get(`${variant}\u0000${instance.baseUrl}`);
        out.push({
          variant,
          baseUrl: withoutCredentials(instance.baseUrl),
          weight: instance.weight,
          inFlight: state?.inFlight ?? 0,
          latencyP50Ms: state?.latencyP50Ms ?? null,
          latencyP95Ms: state?.latencyP95Ms ?? null,
          errorRate: state?.errorRate ?? null,
          calls: state?.calls ?? 0,
          cooledUntil: state?.cooledUntil ?? null,
          coolDowns: state?.coolDownsTotal ?? 0,
          probe: upstream.health?.probe ? true : false,
        });
      }
    }
    return out;
  }

  /** GET /v1/models: the experiments of the project that the gateway can serve (some variant has an upstream). */
  models(projectId: string): { object: 'list'; data: Array<{ id: string; object: 'model'; created: number; owned_by: string }> } {
    const project = this.snapshots.get(projectId);
    const data = [];
    for (const key of project.index.keys()) {
      const upstreams = project.upstreams.get(key);
      if (!upstreams || Object.keys(upstreams).length === 0) continue;
      data.push({ id: key, object: 'model' as const, created: Math.floor((project.created.get(key) ?? 0) / 1000), owned_by: 'verdict' });
    }
    return { object: 'list', data };
  }

  /**
   * Serves one call and writes the whole answer to `res` (errors included, in the OpenAI
   * shape); never throws. `baseHeaders` are headers the HTTP layer already set (x-request-id).
   */
  async serve(projectId: string, endpoint: GatewayEndpoint, body: unknown, headers: IncomingHttpHeaders, res: ServerResponse, baseHeaders: OutgoingHttpHeaders): Promise<void> {
    const started = performance.now();
    if (this.inFlight >= this.config.gateway.maxInFlight) {
      writeError(res, baseHeaders, new GatewayError(429, 'Too many gateway calls in flight on this replica; retry shortly.', 'rate_limit_error', 'gateway_busy', null, { 'retry-after': '1' }));
      return;
    }
    let plan: Plan;
    try {
      plan = this.plan(projectId, endpoint, body, headers);
    } catch (error) {
      writeError(res, baseHeaders, error instanceof GatewayError ? error : this.unexpected(error));
      return;
    }
    this.inFlight++;
    let shadow: ShadowLink | null = null;
    try {
      shadow = this.startShadow(plan, body as Record<string, unknown>);
    } catch (error) {
      // Never let a copy's set-up touch the served call.
      this.logger.warn({ err: error, eventId: plan.eventId }, 'shadow copy not started');
    }
    plan.capture = shadow?.capture ?? null;
    const captureSettings = plan.measured ? this.snapshots.get(plan.projectId).captures.get(plan.experiment) : undefined;
    if (captureSettings && captureSampled(plan.eventId, captureSettings.sampleRate)) plan.recorder = new CaptureCollector(plan.endpoint, captureSettings.maxChars);
    const verdictHeaders: OutgoingHttpHeaders = {
      ...baseHeaders,
      'x-verdict-experiment': plan.experiment,
      'x-verdict-variant': plan.assignment.variant ?? '',
      'x-verdict-event-id': plan.eventId,
    };
    let measured: Measured;
    try {
      measured = await this.proxy(plan, res, verdictHeaders, started);
    } catch (error) {
      // Not expected (every fault of the upstream or the client is handled in proxy): answer if still possible.
      if (!res.headersSent) writeError(res, verdictHeaders, this.unexpected(error));
      else res.destroy();
      measured = { status: null, ttftMs: null, latencyMs: null, usage: null, error: 'connect' };
    } finally {
      this.inFlight--;
    }
    plan.lease?.finish(healthVerdict(measured.error), measured.latencyMs, measured.ttftMs);
    const result = plan.fallback && measured.error === null ? 'fallback' : (measured.error ?? 'ok');
    this.calls.inc({ result });
    const labels = this.variantLabels.labels({ project: plan.projectId, experiment: plan.experiment, variant: plan.assignment.variant ?? '' });
    const statusClass = res.headersSent ? `${Math.floor(res.statusCode / 100)}xx` : 'none';
    this.requests.inc({ ...labels, status_class: statusClass });
    this.duration.observe({ ...labels, status_class: statusClass }, (performance.now() - started) / 1000);
    if (result !== 'ok') this.errors.inc({ ...labels, class: result });
    this.record(plan, measured);
    if (plan.recorder && captureSettings) this.keep(plan, body as Record<string, unknown>, measured, captureSettings.retentionDays);
    // Only an answer that reached the client whole is compared.
    shadow?.settle(measured.error === null && plan.capture ? plan.capture.text(plan.endpoint, plan.capture.sse) : null);
  }

  /** Hands the call's capture to the writer (batched, off the answer path; docs/adr/0039). Never throws. */
  private keep(plan: Plan, body: Record<string, unknown>, measured: Measured, retentionDays: number): void {
    try {
      const recorder = plan.recorder!;
      const prompt = cut(promptOf(plan.endpoint, body), recorder.maxChars);
      const answer = recorder.result();
      const experimentId = this.snapshots.get(plan.projectId).ids.get(plan.experiment);
      if (!experimentId) return;
      const capturedAt = new Date();
      this.captures.add({
        experimentId,
        eventId: plan.eventId,
        projectId: plan.projectId,
        variant: plan.assignment.variant ?? '',
        instance: plan.lease ? withoutCredentials(plan.lease.instance.baseUrl) : null,
        endpoint: plan.endpoint,
        stream: plan.stream,
        prompt: prompt.text,
        promptTruncated: prompt.truncated,
        answer: answer.text,
        answerTruncated: answer.truncated,
        error: plan.fallback && measured.error === null ? 'fallback' : measured.error,
        capturedAt,
        expiresAt: new Date(capturedAt.getTime() + retentionDays * 86_400_000),
      });
    } catch (error) {
      this.logger.warn({ eventId: plan.eventId, err: error instanceof Error ? error.name : 'unknown' }, 'gateway capture not kept');
    }
  }

  /**
   * Starts the shadow copy of a served call when the experiment has a shadow and the call is
   * sampled (at random, `sampleRate`), and fewer than GATEWAY_SHADOW_MAX_IN_FLIGHT copies are in
   * flight on this replica; otherwise the copy is dropped (counted), never queued. The copy runs
   * on its own: the served call never waits for it and never sees its answer (docs/adr/0031).
   */
  private startShadow(plan: Plan, body: Record<string, unknown>): ShadowLink | null {
    if (!plan.measured) return null;
    const project = this.snapshots.get(plan.projectId);
    const shadow = project.shadows.get(plan.experiment);
    if (!shadow || shadow.variant === plan.assignment.variant || this.config.gateway.shadowMaxInFlight === 0) return null;
    const upstream = project.upstreams.get(plan.experiment)?.[shadow.variant];
    if (!upstream || Math.random() >= shadow.sampleRate) return null;
    if (this.shadowInFlight >= this.config.gateway.shadowMaxInFlight) {
      // Bounded like every per-experiment label (docs/adr/0033): past the budget, `other`.
      const labels = this.variantLabels.labels({ project: plan.projectId, experiment: plan.experiment, variant: shadow.variant });
      this.shadowDropped.inc({ project: labels.project, experiment: labels.experiment });
      return null;
    }
    this.shadowInFlight++;
    let settle!: (text: string | null) => void;
    const served = new Promise<string | null>((resolve) => (settle = resolve));
    void this.runShadow(plan, body, shadow.variant, upstream, served).finally(() => this.shadowInFlight--);
    return { capture: new AnswerCapture(), settle };
  }

  /** The shadow copy: one call on the shadow's pool (no failover, no fallback), read to the end, measured like a served call, recorded once paired. Never throws. */
  private async runShadow(plan: Plan, body: Record<string, unknown>, variant: string, upstream: Upstream, served: Promise<string | null>): Promise<void> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const eventId = randomUUID();
    let measured: Measured;
    let text: string | null = null;
    const lease = this.acquire(plan.projectId, plan.experiment, variant, upstream, plan.unitId, new Set());
    try {
      if (!lease) measured = { status: null, ttftMs: null, latencyMs: elapsed(), usage: null, error: 'connect' };
      else ({ measured, text } = await this.callShadow(plan, body, upstream, lease, elapsed));
    } catch (error) {
      this.logger.warn({ err: error, eventId }, 'shadow call failed unexpectedly');
      measured = { status: null, ttftMs: null, latencyMs: elapsed(), usage: null, error: 'connect' };
    }
    lease?.finish(healthVerdict(measured.error), measured.latencyMs, measured.ttftMs);
    const result = measured.error ?? 'ok';
    this.shadowCalls.inc({ result });
    const servedText = await served;
    const agreement = measured.error === null ? agreementOf(servedText, text) : { exactMatch: null, jsonMatch: null };
    this.recordShadow(plan, variant, eventId, measured, agreement);
  }

  private async callShadow(
    plan: Plan,
    body: Record<string, unknown>,
    upstream: Upstream,
    lease: Lease,
    elapsed: () => number,
  ): Promise<{ measured: Measured; text: string | null }> {
    const instance = lease.instance;
    const failed = (error: GatewayErrorClass, status: number | null = null) => ({ measured: { status, ttftMs: null, latencyMs: elapsed(), usage: null, error }, text: null });
    const outgoing: Record<string, unknown> = { ...body, ...upstream.params };
    if (plan.stream && upstream.includeUsage && (plan.endpoint === 'chat' || plan.endpoint === 'completions')) {
      outgoing.stream_options = { ...(isRecord(body.stream_options) ? body.stream_options : {}), include_usage: true };
    }
    if (upstream.systemPromptPrefix) prefixSystemPrompt(outgoing, plan.endpoint, upstream.systemPromptPrefix);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: plan.stream ? 'text/event-stream' : 'application/json',
      'accept-encoding': 'identity',
      ...upstream.headers,
    };
    const envName = instance.apiKeyEnv ?? upstream.apiKeyEnv;
    if (envName) {
      const credential = this.config.gateway.credential(envName);
      if (!credential) return failed('connect');
      headers.authorization = `Bearer ${credential}`;
    }
    let answer: OutboundStreamResponse;
    try {
      answer = await this.outbound.open({
        method: 'POST',
        url: instance.baseUrl + PATHS[plan.endpoint],
        headers,
        body: JSON.stringify({ ...outgoing, model: instance.model ?? upstream.model }),
        timeoutMs: upstream.totalTimeoutMs,
        idleTimeoutMs: upstream.timeoutMs,
        maxResponseBytes: MAX_BUFFERED_BYTES,
      });
    } catch (error) {
      return failed(upstreamFailure(error)[0]);
    }
    const status = answer.status;
    if (status >= 400) {
      await discard(answer);
      return failed(status >= 500 ? 'upstream_5xx' : 'upstream_4xx', status);
    }
    const capture = new AnswerCapture();
    if (String(answer.headers['content-type'] ?? '').startsWith('text/event-stream') && status < 300) {
      const meter = new StreamMeter(plan.endpoint, elapsed);
      let failure: GatewayErrorClass | null = null;
      try {
        await answer.consume(
          (chunk) => {
            meter.feed(chunk);
            capture.feed(chunk);
            if (meter.firstTokenAt !== null) lease.firstByte(meter.firstTokenAt);
            return true;
          },
          (resume) => resume(),
        );
      } catch (error) {
        failure = upstreamFailure(error)[0];
      }
      meter.end();
      const latencyMs = elapsed();
      const error: GatewayErrorClass | null = failure ?? (meter.streamError ? 'upstream_5xx' : meter.complete ? null : 'invalid_response');
      return {
        measured: { status, ttftMs: meter.firstTokenAt, latencyMs, usage: error === null ? meter.usage : null, error },
        text: error === null ? capture.text(plan.endpoint, true) : null,
      };
    }
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of answer.body) chunks.push(chunk);
    } catch (error) {
      return failed(upstreamFailure(error)[0], status);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return failed('invalid_response', status);
    }
    if (!isRecord(parsed) || status >= 300) return failed('invalid_response', status);
    return { measured: { status, ttftMs: null, latencyMs: elapsed(), usage: usageOf(parsed.usage, plan.endpoint), error: null }, text: parsedBodyText(plan.endpoint, parsed) };
  }

  /** The shadow copy's outcome: on the shadow variant, paired with the served call's event id, through ingestion (stored apart, docs/adr/0031). */
  private recordShadow(plan: Plan, variant: string, eventId: string, measured: Measured, agreement: Agreement): void {
    const event = {
      id: eventId,
      experiment: plan.experiment,
      unitId: plan.unitId,
      variant,
      latencyMs: measured.latencyMs === null ? null : round(measured.latencyMs),
      ttftMs: measured.ttftMs === null ? null : round(measured.ttftMs),
      inputTokens: measured.usage?.inputTokens ?? null,
      outputTokens: measured.usage?.outputTokens ?? null,
      success: measured.error === null,
      error: measured.error,
      shadowOf: plan.eventId,
      exactMatch: agreement.exactMatch,
      jsonMatch: agreement.jsonMatch,
      // When the call ended: a retried event keeps its own time (docs/adr/0038).
      timestamp: new Date().toISOString(),
    };
    void this.outcomeRetry.submit({ projectId: plan.projectId, kind: 'shadow', event });
  }

  /** Which experiment, unit, variant and upstream; the body to send. Throws GatewayError for bad input. */
  private plan(projectId: string, endpoint: GatewayEndpoint, body: unknown, headers: IncomingHttpHeaders): Plan {
    if (!isRecord(body)) throw new GatewayError(400, 'The request body must be a JSON object.', 'invalid_request_error', 'invalid_body', 'body');
    const model = body.model;
    if (typeof model !== 'string' || model === '') {
      throw new GatewayError(400, 'model is required: the key of the experiment to call.', 'invalid_request_error', 'missing_model', 'model');
    }
    const project = this.snapshots.get(projectId);
    const experiment = project.index.get(model);
    const upstreams = project.upstreams.get(model);
    if (!experiment || !upstreams) {
      throw new GatewayError(
        404,
        `The model \`${model.slice(0, 100)}\` is not an experiment of this project that the gateway serves: use an experiment key as the model (GET /v1/models lists them).`,
        'invalid_request_error',
        'model_not_found',
        'model',
      );
    }
    const unitId = this.unitOf(experiment.unitType, body, headers);
    const assignment = this.assignment.assign(projectId, { experiment: model, unitId });
    const upstream = assignment.variant ? upstreams[assignment.variant] : undefined;
    if (!upstream) {
      throw new GatewayError(
        503,
        `Variant "${assignment.variant}" of experiment "${model}" has no upstream configured; an admin sets variants[].upstream.`,
        'server_error',
        'no_upstream',
        'model',
      );
    }
    const stream = body.stream === true && endpoint !== 'embeddings';
    const outgoing: Record<string, unknown> = { ...body, ...upstream.params };
    if (stream && upstream.includeUsage && (endpoint === 'chat' || endpoint === 'completions')) {
      outgoing.stream_options = { ...(isRecord(body.stream_options) ? body.stream_options : {}), include_usage: true };
    }
    if (upstream.systemPromptPrefix) prefixSystemPrompt(outgoing, endpoint, upstream.systemPromptPrefix);
    return {
      projectId,
      endpoint,
      experiment: model,
      unitId,
      assignment,
      measured: assignment.inExperiment || assignment.reason === 'forced',
      eventId: randomUUID(),
      upstream,
      servedBy: assignment.variant as string,
      lease: this.acquire(projectId, model, assignment.variant as string, upstream, unitId, new Set()),
      tried: new Set(),
      fallback: false,
      stream,
      outgoing,
      capture: null,
      recorder: null,
    };
  }

  /** Starts the call on an instance of a variant's pool (null when none is usable). */
  private acquire(projectId: string, experiment: string, variant: string, upstream: Upstream, unitId: string, tried: ReadonlySet<string>): Lease | null {
    const pool = InstancePools.poolOf(projectId, experiment, variant);
    return this.pools.acquire(pool, upstream.instances, upstream.health ?? DEFAULT_UPSTREAM_HEALTH, unitId, {
      sticky: upstream.balance === 'sticky',
      ...(upstream.balance === 'peak_ewma' ? { peakEwma: { tauMs: upstream.balanceOptions?.tauMs ?? DEFAULT_PEAK_EWMA_TAU_MS } } : {}),
      // Nowhere else to go: the instances are called anyway, and the client gets their own answer.
      panic: upstream.whenDown !== 'fallback_control' && tried.size === 0,
      exclude: tried,
    });
  }

  /** The unit: the x-verdict-unit header, else the body's `user`; a request-unit experiment needs neither. */
  private unitOf(unitType: string, body: Record<string, unknown>, headers: IncomingHttpHeaders): string {
    const header = headers['x-verdict-unit'];
    const given = typeof header === 'string' && header !== '' ? header : typeof body.user === 'string' && body.user !== '' ? body.user : null;
    const param = given === header ? 'x-verdict-unit' : 'user';
    if (given !== null) {
      if (given.length > STORABLE_LIMITS.unitIdLength || !isStorableText(given)) {
        throw new GatewayError(400, `The unit id (${param}) must be 1-${STORABLE_LIMITS.unitIdLength} characters of well-formed text.`, 'invalid_request_error', 'invalid_unit', param);
      }
      return given;
    }
    if (unitType === 'request') return randomUUID();
    throw new GatewayError(
      400,
      `This experiment assigns by ${unitType}: send the ${unitType} id in the x-verdict-unit header or the body's user field.`,
      'invalid_request_error',
      'missing_unit',
      'x-verdict-unit',
    );
  }

  private async proxy(plan: Plan, res: ServerResponse, headers: OutgoingHttpHeaders, started: number): Promise<Measured> {
    const elapsed = () => performance.now() - started;
    const abort = new AbortController();
    let cancelled = false;
    const onClose = () => {
      if (!res.writableFinished) {
        cancelled = true;
        abort.abort();
      }
    };
    res.once('close', onClose);
    const failed = (error: GatewayErrorClass, status: number | null = null): Measured => ({ status, ttftMs: null, latencyMs: cancelled ? null : elapsed(), usage: null, error });
    try {
      const requestHeaders: Record<string, string> = {
        'content-type': 'application/json',
        accept: plan.stream ? 'text/event-stream' : 'application/json',
        // undici's request() does not decompress: ask for none, so usage can be read and bytes stay as sent.
        'accept-encoding': 'identity',
      };
      let answer: OutboundStreamResponse | null = null;
      // At most two instances of the pool (one failover), then, when the upstream says so, the control's pool.
      for (let attempt = 0; answer === null; attempt++) {
        const lease = plan.lease;
        if (!lease) {
          if (this.fallBack(plan)) continue;
          writeError(res, headers, new GatewayError(503, `Every instance of variant "${plan.servedBy}" is cooled down or failed; retry shortly.`, 'server_error', 'no_instance', null, { 'retry-after': '1' }));
          return failed('connect');
        }
        const instance = lease.instance;
        const upstream = plan.upstream;
        const envName = instance.apiKeyEnv ?? upstream.apiKeyEnv;
        const callHeaders = { ...requestHeaders, ...upstream.headers };
        if (envName) {
          const credential = this.config.gateway.credential(envName);
          if (!credential) {
            writeError(res, headers, new GatewayError(502, `The upstream's credential is not available: the environment variable ${envName} is unset or not allowed (GATEWAY_CREDENTIAL_ENVS).`, 'upstream_error', 'upstream_credential_missing'));
            return failed('connect');
          }
          callHeaders.authorization = `Bearer ${credential}`;
        }
        const retryable = attempt === 0;
        try {
          const opened = await this.outbound.open({
            method: 'POST',
            url: instance.baseUrl + PATHS[plan.endpoint],
            headers: callHeaders,
            body: JSON.stringify({ ...plan.outgoing, ...upstream.params, model: instance.model ?? upstream.model }),
            timeoutMs: upstream.totalTimeoutMs,
            idleTimeoutMs: upstream.timeoutMs,
            maxResponseBytes: MAX_STREAM_BYTES,
            signal: abort.signal,
          });
          if (opened.status >= 500 && !cancelled) {
            // Nothing reached the client yet: another instance may answer instead.
            const next = this.nextLease(plan, retryable);
            if (next || this.fallBack(plan)) {
              await discard(opened);
              lease.finish(false, null);
              if (next) {
                plan.lease = next;
                this.failovers.inc();
              }
              continue;
            }
          }
          answer = opened;
        } catch (error) {
          if (cancelled) return failed('client_cancelled');
          lease.finish(false, null);
          const next = this.nextLease(plan, retryable);
          plan.lease = next;
          if (next) this.failovers.inc();
          if (next || this.fallBack(plan)) continue;
          const [errorClass, gatewayError] = upstreamFailure(error);
          writeError(res, headers, gatewayError);
          return failed(errorClass);
        }
      }

      const status = answer.status;
      const out: OutgoingHttpHeaders = { ...headers };
      if (plan.fallback) out['x-verdict-served-by'] = plan.servedBy;
      for (const [name, value] of Object.entries(answer.headers)) {
        if (PASSED_HEADERS.test(name)) out[name] = value;
      }
      // Verdict's own request id stays visible when the upstream's replaces it.
      if (answer.headers['x-request-id'] && headers['x-request-id']) out['x-verdict-request-id'] = headers['x-request-id'];
      const contentType = String(answer.headers['content-type'] ?? '');
      const errorClass: GatewayErrorClass | null = status >= 500 ? 'upstream_5xx' : status >= 400 ? 'upstream_4xx' : null;

      if (contentType.startsWith('text/event-stream') && status < 300) {
        return await this.pipeStream(plan, answer, res, out, elapsed, () => cancelled);
      }

      // Not a stream: read it whole (bounded), check it, read its usage, answer.
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of answer.body) {
          size += chunk.length;
          if (size > MAX_BUFFERED_BYTES) throw new OutboundError('failed', `the answer is larger than ${MAX_BUFFERED_BYTES} bytes`);
          chunks.push(chunk);
        }
      } catch (error) {
        if (cancelled) return failed('client_cancelled', status);
        const [readClass, gatewayError] = size > MAX_BUFFERED_BYTES ? (['invalid_response', new GatewayError(502, 'The upstream answer is too large.', 'upstream_error', 'invalid_response')] as const) : upstreamFailure(error);
        writeError(res, headers, gatewayError);
        return failed(readClass, status);
      }
      const raw = Buffer.concat(chunks);
      let parsed: unknown;
      let isJson = true;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        isJson = false;
      }
      if (errorClass) {
        // The upstream's own error: forwarded as it is when it is JSON, wrapped in the OpenAI shape otherwise.
        if (isJson) writeBody(res, status, out, raw);
        else writeError(res, out, new GatewayError(status, `The upstream answered ${status}: ${raw.toString('utf8', 0, 200).replace(/\s+/g, ' ').trim() || '(no body)'}`, 'upstream_error', errorClass));
        return { status, ttftMs: null, latencyMs: elapsed(), usage: null, error: errorClass };
      }
      if (!isJson || (status >= 200 && status < 300 && !isRecord(parsed)) || contentType.includes('event-stream')) {
        writeError(res, headers, new GatewayError(502, `The upstream answered ${status} with a body that is not a JSON object.`, 'upstream_error', 'invalid_response'));
        return failed('invalid_response', status);
      }
      plan.capture?.feed(raw);
      plan.recorder?.body(parsed);
      writeBody(res, status, out, raw);
      await finished(res);
      if (cancelled) return failed('client_cancelled', status);
      return { status, ttftMs: null, latencyMs: elapsed(), usage: usageOf((parsed as Record<string, unknown>).usage, plan.endpoint), error: status >= 300 ? 'invalid_response' : null };
    } finally {
      res.off('close', onClose);
    }
  }

  /** The instance for the one retry of a call (another of the same pool), or null. */
  private nextLease(plan: Plan, retryable: boolean): Lease | null {
    if (!retryable || !plan.lease) return null;
    plan.tried.add(plan.lease.instance.baseUrl);
    const upstreams = this.snapshots.get(plan.projectId).upstreams.get(plan.experiment);
    const upstream = upstreams?.[plan.servedBy] ?? plan.upstream;
    return this.acquire(plan.projectId, plan.experiment, plan.servedBy, upstream, plan.unitId, plan.tried);
  }

  /**
   * No instance of the assigned variant is left: when its upstream says `whenDown:
   * fallback_control`, the call moves to the control's pool, once (recorded on the assigned
   * variant as a failure of class `fallback`). False when there is nowhere to go.
   */
  private fallBack(plan: Plan): boolean {
    if (plan.fallback || plan.upstream.whenDown !== 'fallback_control') return false;
    const project = this.snapshots.get(plan.projectId);
    const control = project.index.get(plan.experiment)?.variants.find((v) => v.isControl)?.key;
    const upstream = control ? project.upstreams.get(plan.experiment)?.[control] : undefined;
    if (!control || !upstream || control === plan.servedBy) return false;
    const lease = this.acquire(plan.projectId, plan.experiment, control, upstream, plan.unitId, new Set());
    if (!lease) return false;
    plan.fallback = true;
    plan.servedBy = control;
    plan.upstream = upstream;
    plan.tried = new Set();
    plan.lease = lease;
    return true;
  }

  /** Forwards an SSE answer chunk by chunk, as it arrives, honouring the client's backpressure; the meter watches it pass. */
  private async pipeStream(
    plan: Plan,
    answer: OutboundStreamResponse,
    res: ServerResponse,
    headers: OutgoingHttpHeaders,
    elapsed: () => number,
    cancelled: () => boolean,
  ): Promise<Measured> {
    const meter = new StreamMeter(plan.endpoint, elapsed);
    delete headers['content-length'];
    headers['cache-control'] = 'no-cache';
    headers['x-accel-buffering'] = 'no';
    res.writeHead(answer.status, headers);
    let failure: GatewayErrorClass | null = null;
    let failureMessage = '';
    const capture = plan.capture;
    if (capture) capture.sse = true;
    // The shadow's comparison and the prompt capture (docs/adr/0039) watch the same bytes.
    const watchers: Array<{ feed(chunk: Buffer): void }> = [];
    if (capture) watchers.push(capture);
    if (plan.recorder) watchers.push(plan.recorder);
    // The balancer learns of the first token at once (a call waiting for one raises its instance's cost, docs/adr/0037).
    let waitingLease = plan.lease;
    // Forwarded first, watched after: the meter's parsing (JSON of the first events) is not on the path to the client's first byte.
    const feed = (chunk: Buffer) => {
      const more = res.write(chunk);
      meter.feed(chunk);
      for (const watcher of watchers) watcher.feed(chunk);
      if (waitingLease && meter.firstTokenAt !== null) {
        waitingLease.firstByte(meter.firstTokenAt);
        waitingLease = null;
      }
      return more;
    };
    // Paused until the client drains what it was sent (or goes away: then the upstream call is aborted).
    const whenDrained = (resume: () => void) => {
      const go = () => {
        res.off('drain', go);
        res.off('close', go);
        resume();
      };
      res.on('drain', go);
      res.on('close', go);
    };
    try {
      await answer.consume(feed, whenDrained);
    } catch (error) {
      if (!cancelled()) {
        const [errorClass, gatewayError] = upstreamFailure(error);
        failure = errorClass;
        failureMessage = gatewayError.message;
      }
    }
    meter.end();
    const latencyMs = elapsed();
    const ttftMs = meter.firstTokenAt;
    if (cancelled()) return { status: answer.status, ttftMs, latencyMs: null, usage: null, error: 'client_cancelled' };
    if (failure) {
      // The client learns that the stream broke: an error event the OpenAI clients raise, then the end.
      const event: OpenAiErrorBody = { error: { message: `The upstream stream broke off: ${failureMessage}`, type: 'upstream_error', param: null, code: failure } };
      res.end(`data: ${JSON.stringify(event)}\n\n`);
      return { status: answer.status, ttftMs, latencyMs, usage: null, error: failure };
    }
    res.end();
    const error: GatewayErrorClass | null = meter.streamError ? 'upstream_5xx' : meter.complete ? null : 'invalid_response';
    // An interrupted stream never delivers usage: unknown, not 0.
    return { status: answer.status, ttftMs, latencyMs, usage: meter.complete ? meter.usage : null, error };
  }

  /** One outcome event for the call, through the ingestion path (idempotent by its event id); never throws. */
  private record(plan: Plan, measured: Measured): void {
    if (!plan.measured) return;
    const event = {
      id: plan.eventId,
      experiment: plan.experiment,
      unitId: plan.unitId,
      variant: plan.assignment.variant,
      latencyMs: measured.latencyMs === null ? null : round(measured.latencyMs),
      ttftMs: measured.ttftMs === null ? null : round(measured.ttftMs),
      // A fallback's tokens were the control's, not this variant's: not priced at this variant's prices.
      inputTokens: plan.fallback ? null : (measured.usage?.inputTokens ?? null),
      outputTokens: plan.fallback ? null : (measured.usage?.outputTokens ?? null),
      // Cancelled: whether it would have succeeded is unknown (docs/gateway.md). A fallback
      // is a failure of the assigned variant, even when the control answered.
      success: measured.error === 'client_cancelled' ? null : measured.error === null && !plan.fallback,
      error: plan.fallback && measured.error === null ? 'fallback' : measured.error,
      // When the call ended: a retried event keeps its own time (docs/adr/0038).
      timestamp: new Date().toISOString(),
    };
    // Refused for a transient reason (queue away, too deep, enqueue unconfirmed): held and retried, never counted twice.
    // Measured where it started: a weight change while it was in flight does not move it (issue 17).
    const servedAs = plan.assignment.variant === null ? undefined : { variant: plan.assignment.variant, phase: plan.assignment.phase };
    void this.outcomeRetry.submit({ projectId: plan.projectId, kind: 'served', event, servedAs });
  }

  private unexpected(error: unknown): GatewayError {
    this.logger.error({ err: error }, 'gateway call failed unexpectedly');
    return new GatewayError(502, 'The gateway could not complete the call.', 'upstream_error', 'gateway_error');
  }
}

/** Reads and drops an answer that will not be forwarded (the connection is then reused). */
async function discard(answer: OutboundStreamResponse): Promise<void> {
  try {
    for await (const _chunk of answer.body) {
      // dropped
    }
  } catch {
    // A broken error answer: nothing to keep.
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The system prompt prefix, on the first system message of a chat (one is added when there is none) or the `instructions` of a Responses call. */
function prefixSystemPrompt(body: Record<string, unknown>, endpoint: GatewayEndpoint, prefix: string): void {
  if (endpoint === 'responses') {
    body.instructions = typeof body.instructions === 'string' ? `${prefix}${body.instructions}` : prefix;
    return;
  }
  if (endpoint !== 'chat' || !Array.isArray(body.messages)) return;
  const messages = [...(body.messages as unknown[])];
  const index = messages.findIndex((m) => isRecord(m) && (m.role === 'system' || m.role === 'developer'));
  if (index >= 0) {
    const message = messages[index] as Record<string, unknown>;
    if (typeof message.content === 'string') messages[index] = { ...message, content: `${prefix}${message.content}` };
    else if (Array.isArray(message.content)) messages[index] = { ...message, content: [{ type: 'text', text: prefix }, ...(message.content as unknown[])] };
  } else {
    messages.unshift({ role: 'system', content: prefix });
  }
  body.messages = messages;
}

/** The class and the client's error for an upstream call that failed before or while reading its answer. */
function upstreamFailure(error: unknown): [GatewayErrorClass, GatewayError] {
  if (error instanceof OutboundError && error.kind === 'timed_out') {
    return ['timeout', new GatewayError(504, `The upstream did not answer in time: ${error.message}.`, 'timeout_error', 'timeout')];
  }
  if (error instanceof OutboundError && error.kind === 'refused') {
    return ['connect', new GatewayError(502, `The upstream may not be called: ${error.message}.`, 'upstream_error', 'upstream_refused')];
  }
  const message = error instanceof Error ? error.message : String(error);
  return ['connect', new GatewayError(502, `The upstream could not be reached or broke off: ${message.slice(0, 200)}.`, 'upstream_error', 'connect')];
}

function writeBody(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer): void {
  if (res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(body);
}

/** Writes an error in the OpenAI shape (when the answer has not started). */
export function writeError(res: ServerResponse, headers: OutgoingHttpHeaders, error: GatewayError): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(JSON.stringify(error.body()));
  const out: OutgoingHttpHeaders = { ...headers, ...error.headers, 'content-type': 'application/json' };
  delete out['content-encoding'];
  writeBody(res, error.status, out, body);
}

/** Resolves when the response is flushed or closed. */
function finished(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('finish', done);
      res.off('close', done);
      resolve();
    };
    res.on('finish', done);
    res.on('close', done);
  });
}
