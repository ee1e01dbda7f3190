import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { FeedbackRecord, OutcomeRecord } from '../queue/queues';
import { OutcomeProducer } from './outcome.producer';

/** How long a replica waits for more requests before enqueuing what it holds. */
export const LINGER_MS = 4;
/** Items per job at most: a full job is enqueued at once. */
export const MAX_JOB_ITEMS = 2000;

interface Pending<T> {
  items: T[];
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
  timer: NodeJS.Timeout | null;
}

/**
 * Coalesces the items of concurrent requests of one project into one job. Each request
 * waits until the job holding its items is enqueued (or failed to be): nothing is
 * acknowledged before it is in Redis. Flushes run concurrently.
 */
class Coalescer<T> {
  private readonly pending = new Map<string, Pending<T>>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly send: (projectId: string, items: T[]) => Promise<void>) {}

  add(projectId: string, items: T[]): Promise<void> {
    let p = this.pending.get(projectId);
    if (p && p.items.length + items.length > MAX_JOB_ITEMS) {
      this.flush(projectId);
      p = undefined;
    }
    if (!p) {
      p = { items: [], waiters: [], timer: null };
      this.pending.set(projectId, p);
      p.timer = setTimeout(() => this.flush(projectId), LINGER_MS);
    }
    for (const item of items) p.items.push(item);
    const done = new Promise<void>((resolve, reject) => p.waiters.push({ resolve, reject }));
    if (p.items.length >= MAX_JOB_ITEMS) this.flush(projectId);
    return done;
  }

  private flush(projectId: string): void {
    const p = this.pending.get(projectId);
    if (!p) return;
    this.pending.delete(projectId);
    if (p.timer) clearTimeout(p.timer);
    const sent = this.send(projectId, p.items).then(
      () => p.waiters.forEach((w) => w.resolve()),
      (error: unknown) => p.waiters.forEach((w) => w.reject(error)),
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  async drain(): Promise<void> {
    for (const projectId of [...this.pending.keys()]) this.flush(projectId);
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
