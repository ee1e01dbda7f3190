import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { FeedbackRecord, OutcomeRecord } from '../queue/queues';
import { OutcomeProducer } from './outcome.producer';

/** How long a replica waits for more requests before enqueuing what it holds. */
export const LINGER_MS = 4;
/** Items per job at most: a full job is enqueued at once. */
export const MAX_JOB_ITEMS = 2000;
/**
 * Enqueues in flight at once per kind and replica. Past it, items keep gathering until one
 * returns, so a slow enqueue makes bigger jobs instead of more of them (group commit). On the
 * Postgres queue backend an enqueue costs a transaction, and one job per request would
 * saturate the database with queue work.
 */
export const MAX_ENQUEUES_IN_FLIGHT = 4;

interface Pending<T> {
  items: T[];
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
  timer: NodeJS.Timeout | null;
}

/**
 * Coalesces the items of concurrent requests of one project into one job. Each request
 * waits until the job holding its items is enqueued (or failed to be): nothing is
 * acknowledged before it is in the queue. Up to MAX_ENQUEUES_IN_FLIGHT flushes run concurrently.
 */
class Coalescer<T> {
  private readonly pending = new Map<string, Pending<T>>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Projects whose linger ended while MAX_ENQUEUES_IN_FLIGHT were in flight, oldest first. */
  private readonly held = new Set<string>();

  constructor(private readonly send: (projectId: string, items: T[]) => Promise<void>) {}

  add(projectId: string, items: T[]): Promise<void> {
    let p = this.pending.get(projectId);
    if (p && p.items.length + items.length > MAX_JOB_ITEMS) {
      this.flush(projectId, true);
      p = undefined;
    }
    if (!p) {
      p = { items: [], waiters: [], timer: null };
      this.pending.set(projectId, p);
      p.timer = setTimeout(() => this.flush(projectId), LINGER_MS);
    }
    for (const item of items) p.items.push(item);
    const done = new Promise<void>((resolve, reject) => p.waiters.push({ resolve, reject }));
    if (p.items.length >= MAX_JOB_ITEMS) this.flush(projectId, true);
    return done;
  }

  /** Enqueues the project's items now, or (unless `force`, for a full job) once fewer enqueues are in flight. */
  private flush(projectId: string, force = false): void {
    const p = this.pending.get(projectId);
    if (!p) {
      this.held.delete(projectId);
      return;
    }
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    if (!force && this.inFlight.size >= MAX_ENQUEUES_IN_FLIGHT) {
      this.held.add(projectId);
      return;
    }
    this.held.delete(projectId);
    this.pending.delete(projectId);
    const sent = this.send(projectId, p.items).then(
      () => p.waiters.forEach((w) => w.resolve()),
      (error: unknown) => p.waiters.forEach((w) => w.reject(error)),
    );
    this.inFlight.add(sent);
    void sent.finally(() => {
      this.inFlight.delete(sent);
      for (const held of this.held) {
        if (this.inFlight.size >= MAX_ENQUEUES_IN_FLIGHT) break;
        this.flush(held);
      }
    });
  }

  async drain(): Promise<void> {
    for (const projectId of [...this.pending.keys()]) this.flush(projectId, true);
    await Promise.all([...this.inFlight]);
  }
}

/** Per-replica coalescing of outcome and feedback requests into jobs (docs/adr/0005). */
@Injectable()
export class OutcomeBuffer implements BeforeApplicationShutdown {
  private readonly outcomes: Coalescer<OutcomeRecord>;
  private readonly feedback: Coalescer<FeedbackRecord>;

  constructor(producer: OutcomeProducer) {
    this.outcomes = new Coalescer((projectId, events) =>
      producer.enqueueOutcomes({ projectId, receivedAt: new Date().toISOString(), events }),
    );
    this.feedback = new Coalescer((projectId, items) =>
      producer.enqueueFeedback({ projectId, receivedAt: new Date().toISOString(), items }),
    );
  }

  addOutcomes(projectId: string, events: OutcomeRecord[]): Promise<void> {
    return this.outcomes.add(projectId, events);
  }

  addFeedback(projectId: string, items: FeedbackRecord[]): Promise<void> {
    return this.feedback.add(projectId, items);
  }

  /** Requests still waiting get their answer before the connection closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([this.outcomes.drain(), this.feedback.drain()]);
  }
}
