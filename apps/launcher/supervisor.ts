import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from 'pino';

/** A process to keep running. */
export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  /** The child's environment; the launcher's own when absent. */
  env?: Record<string, string | undefined>;
}

export interface RestartPolicy {
  /** Delay before the first restart of a crash streak; it doubles with each crash in a row. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A child that stayed up this long ends its crash streak: its next crash restarts after initialDelayMs. */
  resetAfterMs: number;
  /** How long a child may take to stop after SIGTERM before it gets SIGKILL. */
  stopTimeoutMs: number;
}

/** 1 s doubling to 30 s, reset after a minute up (docs/adr/0018). */
export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000, stopTimeoutMs: 60_000 };

/** The delay before restarting after the `crashes`-th crash in a row (1 for the first). */
export function restartDelay(crashes: number, policy: RestartPolicy): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, crashes - 1));
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Supervised {
  spec: ChildSpec;
  process: ChildProcess | null;
  exit: Promise<Exit> | null;
  startedAt: number;
  crashes: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Keeps child processes running (crash-only): a child that exits on its own, whatever its
 * exit code, is logged and started again after a backoff, and the others are left alone.
 * stop() is the only way a child stops for good. Children share the launcher's stdout and
 * stderr, so their JSON lines and the supervisor's interleave in one stream.
 */
export class Supervisor {
  private readonly children = new Map<string, Supervised>();
  private stopped: Promise<boolean> | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly policy: RestartPolicy = DEFAULT_RESTART_POLICY,
  ) {}

  /** Starts the child now and keeps it running until stop(). */
  add(spec: ChildSpec): void {
    if (this.children.has(spec.name)) throw new Error(`A child named "${spec.name}" is already supervised.`);
    const child: Supervised = { spec, process: null, exit: null, startedAt: 0, crashes: 0, timer: null };
    this.children.set(spec.name, child);
    this.start(child);
  }

  /** The pid of the child's current process, if it is running. */
  pid(name: string): number | undefined {
    return this.children.get(name)?.process?.pid;
  }

  /**
   * Stops every child: SIGTERM, then SIGKILL after stopTimeoutMs. Resolves true when each
   * running child stopped cleanly: exit code 0, or the signal it was sent (Nest re-raises
   * SIGTERM after its graceful shutdown) or SIGINT (a terminal's Ctrl-C reaches it directly).
   */
  stop(): Promise<boolean> {
    this.stopped ??= Promise.all([...this.children.values()].map((child) => this.stopChild(child))).then((clean) => clean.every(Boolean));
    return this.stopped;
  }

  private start(child: Supervised): void {
    child.timer = null;
    const { name } = child.spec;
    const proc = spawn(child.spec.command, child.spec.args, { stdio: ['ignore', 'inherit', 'inherit'], env: child.spec.env });
    child.process = proc;
    child.startedAt = Date.now();
    child.exit = new Promise<Exit>((resolve) => {
      let settled = false;
      const settle = (exit: Exit) => {
        if (settled) return;
        settled = true;
        resolve(exit);
        this.onExit(child, proc, exit);
      };
      proc.once('exit', (code, signal) => settle({ code, signal }));
      // A process that could not be spawned at all may emit no 'exit'.
      proc.once('error', (error) => {
        this.logger.error({ child: name, err: error }, `${name} could not be started`);
        if (proc.pid === undefined) settle({ code: null, signal: null });
      });
    });
    this.logger.info({ child: name, pid: proc.pid }, `${name} started`);
  }

  private onExit(child: Supervised, proc: ChildProcess, exit: Exit): void {
    if (child.process !== proc) return;
    child.process = null;
    if (this.stopped) return;
    const { name } = child.spec;
    const uptimeMs = Date.now() - child.startedAt;
    child.crashes = uptimeMs >= this.policy.resetAfterMs ? 1 : child.crashes + 1;
    const restartInMs = restartDelay(child.crashes, this.policy);
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    this.logger.error(
      { child: name, pid: proc.pid, code: exit.code, signal: exit.signal, uptimeMs, crashes: child.crashes, restartInMs },
      `${name} exited on its own (${how}); restarting in ${restartInMs / 1000} s`,
    );
    child.timer = setTimeout(() => this.start(child), restartInMs);
  }

  private async stopChild(child: Supervised): Promise<boolean> {
    if (child.timer) clearTimeout(child.timer);
    child.timer = null;
    const proc = child.process;
    if (!proc || !child.exit) return true;
    const { name } = child.spec;
    let killed = false;
    const deadline = setTimeout(() => {
      killed = true;
      this.logger.error({ child: name, pid: proc.pid, stopTimeoutMs: this.policy.stopTimeoutMs }, `${name} did not stop in time; killing it`);
      proc.kill('SIGKILL');
    }, this.policy.stopTimeoutMs);
    proc.kill('SIGTERM');
    const exit = await child.exit;
    clearTimeout(deadline);
    const clean = !killed && (exit.code === 0 || exit.signal === 'SIGTERM' || exit.signal === 'SIGINT');
    this.logger.info({ child: name, pid: proc.pid, code: exit.code, signal: exit.signal, clean }, `${name} stopped`);
    return clean;
  }
}
