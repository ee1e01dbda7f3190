/**
 * Every queue, job name and payload in one place. The API enqueues only through the
 * typed producers in the context modules; workers consume with one processor per queue.
 */
import type { StorableExposureRecord, StorableOutcomeRecord } from '../storable/storable';

export const QUEUES = {
  exposures: 'exposures',
  outcomes: 'outcomes',
  reports: 'reports',
  reportAlerts: 'report-alerts',
  traffic: 'traffic',
  evaluations: 'evaluations',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** One exposure of a unit to a variant, as /v1/assign or an SDK saw it: the storable definition's shape (libs/storable). */
export type ExposureRecord = StorableExposureRecord;

/** One project's exposures: a job never carries two projects' data, so one project's bad data never holds up another's. */
export interface ExposureBatchJob {
  /** Absent on jobs from older APIs (their records name their project). */
  projectId?: string;
  exposures: ExposureRecord[];
}

export const JOBS = {
  exposureBatch: 'exposure-batch',
  outcomeBatch: 'outcome-batch',
  feedbackBatch: 'feedback-batch',
  reportSend: 'report-send',
  decisionWatch: 'decision-watch',
  alertDelivery: 'alert-delivery',
  trafficMonitor: 'traffic-monitor',
  evaluationRun: 'evaluation-run',
  evaluationAnswerPrune: 'evaluation-answer-prune',
  gatewayCapturePrune: 'gateway-capture-prune',
} as const;

/**
 * One validated outcome event, its variant and phase resolved from the snapshot: the shape the
 * storable definition checks again in the worker (libs/storable), so there is one copy of it.
 */
export type OutcomeRecord = StorableOutcomeRecord;

export interface OutcomeBatchJob {
  projectId: string;
  receivedAt: string;
  events: OutcomeRecord[];
}

/** Late feedback on an event sent earlier, found by (project, event id). */
export interface FeedbackRecord {
  eventId: string;
  success?: boolean;
  score?: number;
  metrics?: Record<string, number>;
}

export interface FeedbackBatchJob {
  projectId: string;
  receivedAt: string;
  items: FeedbackRecord[];
}

/** Sends one report: scheduled (a job scheduler per report, job id per due time) or requested now (sendId set). */
export interface ReportSendJob {
  projectId: string;
  reportId: string;
  /** The report_send row made when the send was requested through the API (manual sends only). */
  sendId?: string;
}

/** Looks for decisions that turned to stop, across running experiments (one job scheduler). */
export type DecisionWatchJob = Record<string, never>;

/** Delivers one stop alert (emails to the experiment's subscribers, the project's webhook). */
export interface AlertDeliveryJob {
  alertId: string;
}

/** Runs (or resumes) one offline evaluation run; its job id is fixed per run and resume (`evaluation-<runId>-<generation>`). */
export interface EvaluationRunJob {
  runId: string;
}

/** Prunes the offline answer cache by age (one job scheduler on the evaluations queue: docs/adr/0035). */
export type EvaluationAnswerPruneJob = Record<string, never>;

/** Deletes gateway captures past their retention (one job scheduler on the traffic queue: docs/adr/0039). */
export type GatewayCapturePruneJob = Record<string, never>;
