/**
 * `gyre --workers N`: the node:cluster primary. It forks N worker processes that share the
 * listening ports (each a full Gyre node joined to the others through the configured broker),
 * restarts a worker that dies, with backoff, and gives up when workers keep dying. SIGTERM and
 * SIGINT are forwarded so every worker shuts down as a single process does; SIGHUP is
 * forwarded so each reloads its configuration. The primary also answers the workers' /metrics
 * (merged metrics of all workers) and keeps them told how many workers are up (for /health).
 */
import cluster, { type Worker } from 'node:cluster';
import type pino from 'pino';
import { MetricsGather } from './metrics-gather.js';
import { asWorkerMessage, WORKER_ENV, type SupervisorToWorker, type WorkerToSupervisor } from './worker-messages.js';

/** First restart delay of a worker; it doubles on each further crash of the same worker. */
export const RESTART_BACKOFF_MIN_MS = 100;
/** Largest restart delay. */
export const RESTART_BACKOFF_MAX_MS = 5000;
/** A worker that served this long before dying restarts with the first delay again. */
export const STABLE_UPTIME_MS = 30_000;
/** Crash-loop rule: more than MAX_CRASHES worker exits within CRASH_WINDOW_MS stop everything. */
export const CRASH_WINDOW_MS = 60_000;
export const MAX_CRASHES = 5;
/** How long the primary waits for every worker's metrics. */
const METRICS_GATHER_TIMEOUT_MS = 3000;
/** Grace after shutdown.timeout for workers to exit by themselves before they are killed. */
const KILL_GRACE_MS = 1000;

export interface SupervisorOptions {
  /** Worker processes to run (at least 2; one process runs without a supervisor). */
  workers: number;
  /** shutdown.timeout in ms: each worker's own limit; the primary kills what is left a second later. */
  shutdownTimeoutMs: number;
  logger: pino.Logger;
}

/** One worker position: its index survives restarts, the process does not. */
interface Slot {
  index: number;
  worker: Worker | undefined;
  /** When the current process reported ready (undefined while starting). */
  readyAt: number | undefined;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export class Supervisor {
  private readonly slots: Slot[];
  private readonly logger: pino.Logger;
  /** Times of recent unexpected worker exits (pruned to CRASH_WINDOW_MS). */
  private crashes: number[] = [];
  private readonly gather = new MetricsGather(METRICS_GATHER_TIMEOUT_MS);
  /** Set once stopping: the exit code to end with (raised to 1 by an unclean worker exit). */
  private stopping: { code: number } | undefined;
  private hardTimer: NodeJS.Timeout | undefined;
  private resolveExit: ((code: number) => void) | undefined;

  constructor(private readonly opts: SupervisorOptions) {
    this.logger = opts.logger;
    this.slots = Array.from({ length: opts.workers }, (_, i) => ({
      index: i + 1,
      worker: undefined,
      readyAt: undefined,
      backoffMs: RESTART_BACKOFF_MIN_MS,
      restartTimer: undefined,
    }));
  }

  /** Forks every worker and resolves with the process exit code once all of them are gone. */
  run(): Promise<number> {
    const done = new Promise<number>((resolve) => {
      this.resolveExit = resolve;
    });
    process.on('SIGTERM', () => this.stop('SIGTERM', 0));
    process.on('SIGINT', () => this.stop('SIGINT', 0));
    process.on('SIGHUP', () => this.forwardHup());
    this.logger.info({ workers: this.slots.length, pid: process.pid }, 'starting workers');
    for (const slot of this.slots) this.fork(slot);
    return done;
  }

  private fork(slot: Slot): void {
    const worker = cluster.fork({ [WORKER_ENV]: `${slot.index}/${this.slots.length}` });
    slot.worker = worker;
    slot.readyAt = undefined;
    worker.on('message', (raw: unknown) => this.onMessage(slot, worker, asWorkerMessage(raw)));
    worker.on('exit', (code: number | null, signal: string | null) => this.onExit(slot, worker, code, signal));
    // IPC errors (a message to a worker that just died) are followed by its exit.
    worker.on('error', (err: Error) => this.logger.debug({ worker: slot.index, error: err.message }, 'worker channel error'));
  }

  private onMessage(slot: Slot, worker: Worker, msg: WorkerToSupervisor | undefined): void {
    if (msg === undefined || slot.worker !== worker) return;
    switch (msg.type) {
      case 'gyre:ready':
        slot.readyAt = Date.now();
        this.logger.info({ worker: slot.index, pid: worker.process.pid, node: msg.node }, 'worker ready');
        this.broadcastStatus();
        break;
      case 'gyre:metrics-request': {
        const id = msg.id;
        const targets = this.slots
          .filter((s) => s.readyAt !== undefined && s.worker?.isConnected())
          .map((s) => ({ index: s.index, send: (m: SupervisorToWorker) => send(s.worker, m) }));
        this.gather.collect(targets).then(
          (text) => send(worker, { type: 'gyre:metrics-result', id, text }),
          (err: unknown) => {
            const error = err instanceof Error ? err.message : String(err);
            this.logger.warn({ error }, 'merging worker metrics failed');
            send(worker, { type: 'gyre:metrics-result', id, error });
          },
        );
        break;
      }
      case 'gyre:metrics-json':
        this.gather.answer(slot.index, msg.id, msg.metrics, msg.error);
        break;
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    const uptimeMs = slot.readyAt === undefined ? 0 : Date.now() - slot.readyAt;
    slot.worker = undefined;
    slot.readyAt = undefined;
    this.gather.forget(slot.index);
    this.broadcastStatus();
    const info = { worker: slot.index, pid: worker.process.pid, code, signal };
    if (this.stopping) {
      const clean = code === 0 || signal === 'SIGTERM' || signal === 'SIGINT';
      if (!clean) this.stopping.code = 1;
      this.logger.info(info, 'worker stopped');
      this.finishIfAllGone();
      return;
    }
    this.logger.warn({ ...info, uptime: `${uptimeMs}ms` }, 'worker exited');
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    if (this.crashes.length > MAX_CRASHES) {
      this.logger.error({ crashes: this.crashes.length, window: `${CRASH_WINDOW_MS}ms` }, 'workers keep crashing, stopping Gyre');
      this.stop('crash loop', 1);
      return;
    }
    if (uptimeMs >= STABLE_UPTIME_MS) slot.backoffMs = RESTART_BACKOFF_MIN_MS;
    const delayMs = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, RESTART_BACKOFF_MAX_MS);
    this.logger.info({ worker: slot.index, delay: `${delayMs}ms` }, 'restarting worker');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping) this.fork(slot);
    }, delayMs);
  }

  /** Tells every ready worker how many workers are up. */
  private broadcastStatus(): void {
    const up = this.slots.filter((s) => s.readyAt !== undefined).length;
    const msg: SupervisorToWorker = { type: 'gyre:workers', up, total: this.slots.length };
    for (const s of this.slots) if (s.readyAt !== undefined) send(s.worker, msg);
  }

  private forwardHup(): void {
    if (this.stopping) return;
    this.logger.info({ signal: 'SIGHUP' }, 'forwarding to workers');
    for (const s of this.slots) s.worker?.process.kill('SIGHUP');
  }

  /**
   * Stops every worker: the signal is forwarded (a crash loop sends SIGTERM), pending
   * restarts are dropped, and workers still running after shutdown.timeout (plus a grace
   * second) are killed, which makes the exit code 1.
   */
  private stop(reason: string, code: number): void {
    if (this.stopping) {
      this.logger.info({ signal: reason }, 'shutdown already in progress');
      return;
    }
    this.stopping = { code };
    this.logger.info({ signal: reason }, 'shutting down workers ...');
    this.gather.close();
    const signal: NodeJS.Signals = reason === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
    for (const s of this.slots) {
      if (s.restartTimer !== undefined) clearTimeout(s.restartTimer);
      s.restartTimer = undefined;
      s.worker?.process.kill(signal);
    }
    this.hardTimer = setTimeout(() => {
      this.logger.error('shutdown timeout reached, killing workers');
      for (const s of this.slots) s.worker?.process.kill('SIGKILL');
      this.finish(1);
    }, Math.max(0, this.opts.shutdownTimeoutMs) + KILL_GRACE_MS);
    this.finishIfAllGone();
  }

  private finishIfAllGone(): void {
    if (this.stopping && this.slots.every((s) => s.worker === undefined)) this.finish(this.stopping.code);
  }

  private finish(code: number): void {
    if (this.hardTimer !== undefined) clearTimeout(this.hardTimer);
    this.hardTimer = undefined;
    const resolve = this.resolveExit;
    this.resolveExit = undefined;
    if (resolve === undefined) return;
    // The signal handlers stay: a repeated signal while the process ends is logged, not fatal.
    this.logger.info({ code }, code === 0 ? 'shutdown completed' : 'stopped');
    resolve(code);
  }
}

/** Messages a worker if its channel is open; a failure shows up as the worker's exit. */
function send(worker: Worker | undefined, msg: SupervisorToWorker): void {
  if (worker === undefined || !worker.isConnected()) return;
  worker.send(msg, undefined, () => undefined);
}
