/**
 * The supervisor's side of /metrics under `gyre --workers`: asks every ready worker for its
 * registry and merges the answers into one exposition. One collection runs at a time;
 * requests arriving meanwhile share its result. A collection fails as a whole when a worker
 * reports an error or when the answers do not all arrive within the time-out (a partial sum
 * would look like counters going backwards); a worker that exits meanwhile is left out.
 */
import { aggregateWorkerMetrics, isMetricFamilyJson, type WorkerMetrics } from '../metrics/index.js';
import type { SupervisorToWorker } from './worker-messages.js';

/** A worker that can be asked: its slot index and a way to message it. */
export interface GatherTarget {
  index: number;
  send(msg: SupervisorToWorker): void;
}

interface Collection {
  id: number;
  waiting: Set<number>;
  results: WorkerMetrics[];
  timer: NodeJS.Timeout;
  promise: Promise<string>;
  resolve: (text: string) => void;
  reject: (err: Error) => void;
}

export class MetricsGather {
  private current: Collection | undefined;
  private seq = 0;

  constructor(private readonly timeoutMs: number) {}

  /** The merged metrics of `targets` (joins the collection under way, if any). */
  collect(targets: readonly GatherTarget[]): Promise<string> {
    if (this.current !== undefined) return this.current.promise;
    if (targets.length === 0) return Promise.reject(new Error('no worker is ready'));
    const id = ++this.seq;
    let resolve!: (text: string) => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timer = setTimeout(() => this.finish(c, new Error(`workers did not report metrics within ${this.timeoutMs} ms`)), this.timeoutMs);
    const c: Collection = { id, waiting: new Set(targets.map((t) => t.index)), results: [], timer, promise, resolve, reject };
    this.current = c;
    for (const t of targets) t.send({ type: 'gyre:metrics-collect', id });
    return promise;
  }

  /** A worker's registry (or its error) for collection `id`; stale answers are ignored. */
  answer(index: number, id: number, metrics: unknown[], error: string | undefined): void {
    const c = this.current;
    if (c === undefined || c.id !== id || !c.waiting.delete(index)) return;
    if (error !== undefined) {
      this.finish(c, new Error(`worker ${index}: ${error}`));
      return;
    }
    c.results.push({ worker: index, metrics: metrics.filter(isMetricFamilyJson) });
    this.completeIfDone();
  }

  /** Worker `index` went away: the collection under way no longer waits for it. */
  forget(index: number): void {
    if (this.current?.waiting.delete(index)) this.completeIfDone();
  }

  /** Fails the collection under way, if any (at shutdown). */
  close(): void {
    if (this.current !== undefined) this.finish(this.current, new Error('shutting down'));
  }

  private completeIfDone(): void {
    const c = this.current;
    if (c === undefined || c.waiting.size > 0) return;
    const results = [...c.results].sort((a, b) => a.worker - b.worker);
    if (results.length === 0) {
      this.finish(c, new Error('no worker reported metrics'));
      return;
    }
    aggregateWorkerMetrics(results).then(
      (text) => this.finish(c, undefined, text),
      (err: unknown) => this.finish(c, err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Settles collection `c` once (a late timer or merge of a finished collection does nothing). */
  private finish(c: Collection, err: Error | undefined, text = ''): void {
    if (this.current !== c) return;
    this.current = undefined;
    clearTimeout(c.timer);
    if (err !== undefined) c.reject(err);
    else c.resolve(text);
  }
}
