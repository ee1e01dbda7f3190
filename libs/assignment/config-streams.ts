import type { ServerResponse } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { TooManyRequestsError, UnavailableError } from '../errors/domain-error';
import { type ProjectSnapshot, SnapshotService } from './snapshot.service';

const HEARTBEAT = Buffer.from(': heartbeat\n\n');
const RETRY_AFTER_SECONDS = 30;

interface Stream {
  raw: ServerResponse;
  projectId: string;
  keyId: string;
  /** When a write was refused (the socket's buffer full) if 'drain' has not come since, else null. */
  congestedAt: number | null;
  /** The newest snapshot frame that arrived while congested: written at 'drain', older ones skipped. */
  pending: Buffer | null;
}

/**
 * The open config streams (server-sent events of GET /v1/sdk/config/stream), bounded
 * (docs/adr/0017):
 * - at most `CONFIG_STREAMS_PER_KEY` per API key and `CONFIG_STREAMS_MAX` per replica
 *   (429 and 503 with Retry-After beyond them);
 * - a client that does not read is dropped, not buffered: once a write is refused, nothing
 *   more is written until the client drains it (changes meanwhile are coalesced: only the
 *   newest snapshot is written then); a change or heartbeat that finds it still congested a
 *   heartbeat period later resets the connection;
 * - each snapshot is serialised once into a Buffer that every stream of the project writes,
 *   so a slow stream holds a reference to a shared frame, not a copy of its own;
 * - a closed stream leaves nothing behind: its project's snapshot watch ends with its
 *   last stream, the heartbeat timer with the last stream of the replica.
 */
@Injectable()
export class ConfigStreams implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ConfigStreams.name);
  private readonly streams = new Set<Stream>();
  private readonly perKey = new Map<string, number>();
  private readonly byProject = new Map<string, { streams: Set<Stream>; unwatch: () => void }>();
  /** One frame per snapshot version, shared by every stream of its project. */
  private readonly frames = new WeakMap<ProjectSnapshot, Buffer>();
  private heartbeat: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    private readonly snapshots: SnapshotService,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  /** Open streams on this replica (all keys), and projects watched for them. */
  get size(): { streams: number; keys: number; projects: number } {
    return { streams: this.streams.size, keys: this.perKey.size, projects: this.byProject.size };
  }

  /**
   * Admits a stream for the key or throws (429 for the key's cap, 503 for the replica's);
   * then `start()` takes over the response (the caller hijacks it) and the snapshot follows.
   */
  open(projectId: string, keyId: string, start: () => ServerResponse): void {
    const { perKey, max } = this.config.streams;
    if (this.closing || this.streams.size >= max) {
      throw new UnavailableError(`This replica serves its maximum of ${max} config streams; retry later.`, RETRY_AFTER_SECONDS);
    }
    if ((this.perKey.get(keyId) ?? 0) >= perKey) {
      throw new TooManyRequestsError(`This API key has its maximum of ${perKey} open config streams on this replica.`, RETRY_AFTER_SECONDS);
    }
    const raw = start();
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const stream: Stream = { raw, projectId, keyId, congestedAt: null, pending: null };
    this.streams.add(stream);
    this.perKey.set(keyId, (this.perKey.get(keyId) ?? 0) + 1);
    this.project(projectId).streams.add(stream);
    this.heartbeat ??= setInterval(() => this.beat(), this.config.streams.heartbeatMs).unref();
    raw.on('close', () => this.forget(stream));
    // A client gone before its stream opened has already closed: nothing will say so again.
    if (raw.destroyed || !raw.socket || raw.socket.destroyed) {
      this.forget(stream);
      return;
    }
    this.send(stream, this.frame(this.snapshots.get(projectId)));
  }

  beforeApplicationShutdown(): void {
    this.closing = true;
    for (const stream of this.streams) stream.raw.end();
  }

  private project(projectId: string): { streams: Set<Stream>; unwatch: () => void } {
    let entry = this.byProject.get(projectId);
    if (!entry) {
      const streams = new Set<Stream>();
      const unwatch = this.snapshots.watch(projectId, (snapshot) => {
        const frame = this.frame(snapshot);
        for (const stream of streams) this.send(stream, frame);
      });
      this.byProject.set(projectId, (entry = { streams, unwatch }));
    }
    return entry;
  }

  private frame(project: ProjectSnapshot): Buffer {
    let frame = this.frames.get(project);
    if (!frame) {
      frame = Buffer.from(`event: config\nid: ${project.snapshot.version}\ndata: ${project.json}\n\n`);
      this.frames.set(project, frame);
    }
    return frame;
  }

  private send(stream: Stream, frame: Buffer, now = Date.now()): void {
    const { raw } = stream;
    if (raw.destroyed) return;
    if (stream.congestedAt !== null) {
      if (now - stream.congestedAt >= this.config.streams.heartbeatMs) {
        this.logger.warn({ projectId: stream.projectId, keyId: stream.keyId, buffered: raw.writableLength }, 'config stream dropped: the client does not read');
        stream.pending = null;
        // A reset, not a FIN queued behind data the client will never read: the kernel's
        // buffers for the connection go at once too.
        if (raw.socket) raw.socket.resetAndDestroy();
        else raw.destroy();
      } else if (frame !== HEARTBEAT) {
        stream.pending = frame;
      }
      return;
    }
    if (!raw.write(frame)) {
      stream.congestedAt = now;
      raw.once('drain', () => {
        stream.congestedAt = null;
        const pending = stream.pending;
        stream.pending = null;
        if (pending) this.send(stream, pending);
      });
    }
  }

  private beat(): void {
    const now = Date.now();
    for (const stream of this.streams) this.send(stream, HEARTBEAT, now);
  }

  private forget(stream: Stream): void {
    if (!this.streams.delete(stream)) return;
    const count = (this.perKey.get(stream.keyId) ?? 1) - 1;
    if (count > 0) this.perKey.set(stream.keyId, count);
    else this.perKey.delete(stream.keyId);
    const project = this.byProject.get(stream.projectId);
    if (project) {
      project.streams.delete(stream);
      if (project.streams.size === 0) {
        project.unwatch();
        this.byProject.delete(stream.projectId);
      }
    }
    if (this.streams.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }
}
