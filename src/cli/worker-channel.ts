/**
 * A worker process's end of the IPC channel to the `gyre --workers` supervisor: it tells the
 * supervisor when the server is ready, keeps the latest workers-up count for /health, hands
 * over this worker's metrics and asks for the merged metrics of every worker.
 */
import type { MetricFamilyJson } from '../metrics/index.js';
import type { WorkerLink } from '../server/index.js';
import { asSupervisorMessage, type SupervisorToWorker, type WorkerSlotInfo, type WorkerToSupervisor } from './worker-messages.js';

/** How long a /metrics request waits for the merged metrics (the supervisor gives up earlier). */
const METRICS_TIMEOUT_MS = 5000;
/** /metrics requests waiting at once; more are refused at once rather than queued. */
const MAX_PENDING_METRICS = 16;

interface Pending {
  resolve: (text: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class WorkerChannel implements WorkerLink {
  private up = 0;
  private readonly total: number;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private metricsSource: (() => Promise<MetricFamilyJson[]>) | undefined;
  private readonly onMessage = (raw: unknown): void => this.handle(asSupervisorMessage(raw));

  constructor(slot: WorkerSlotInfo) {
    this.total = slot.total;
    process.on('message', this.onMessage);
  }

  workers(): { up: number; total: number } {
    return { up: this.up, total: this.total };
  }

  clusterMetrics(): Promise<string> {
    if (!process.connected) return Promise.reject(new Error('the supervisor is gone'));
    if (this.pending.size >= MAX_PENDING_METRICS) return Promise.reject(new Error('too many metrics requests at once'));
    const id = ++this.seq;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('the supervisor did not answer in time'));
      }, METRICS_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ type: 'gyre:metrics-request', id });
    });
  }

  /** Where this worker's registry comes from when the supervisor collects (none: an empty list). */
  serveMetrics(source: (() => Promise<MetricFamilyJson[]>) | undefined): void {
    this.metricsSource = source;
  }

  /** Tells the supervisor this worker serves, under node name `node`. */
  ready(node: string): void {
    this.send({ type: 'gyre:ready', node });
  }

  /** Stops listening and fails every waiting metrics request. */
  close(): void {
    process.off('message', this.onMessage);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new Error('shutting down'));
    }
  }

  private handle(msg: SupervisorToWorker | undefined): void {
    if (msg === undefined) return;
    switch (msg.type) {
      case 'gyre:workers':
        this.up = msg.up;
        break;
      case 'gyre:metrics-collect': {
        const source = this.metricsSource ?? (async () => []);
        source().then(
          (metrics) => this.send({ type: 'gyre:metrics-json', id: msg.id, metrics }),
          (err: unknown) => this.send({ type: 'gyre:metrics-json', id: msg.id, metrics: [], error: err instanceof Error ? err.message : String(err) }),
        );
        break;
      }
      case 'gyre:metrics-result': {
        const p = this.pending.get(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.text !== undefined) p.resolve(msg.text);
        else p.reject(new Error(msg.error ?? 'no metrics'));
        break;
      }
    }
  }

  private send(msg: WorkerToSupervisor): void {
    if (!process.connected || process.send === undefined) return;
    // A channel closing under us surfaces through the callback; the caller's timeout handles it.
    process.send(msg, undefined, {}, () => undefined);
  }
}
