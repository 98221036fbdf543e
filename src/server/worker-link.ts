/**
 * What a worker process of `gyre --workers N` gets from its supervisor, and the one route
 * that depends on it besides /metrics: /health, which reports the whole set of workers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A worker's view of its supervisor (the `gyre --workers` primary process). */
export interface WorkerLink {
  /** Workers serving (ready) and wanted, as the supervisor last reported them. */
  workers(): { up: number; total: number };
  /** The merged metrics exposition of every worker; rejects when the supervisor does not answer in time. */
  clusterMetrics(): Promise<string>;
}

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The health endpoint at `prefix`: 200 `{}` for a single process. Under a supervisor the body
 * is `{"workers":{"up":U,"total":N}}`, with 200 when every worker is up and 503 while fewer are.
 */
export function healthRoute(prefix: string, link: WorkerLink | undefined): Route {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== prefix) return false;
    if (link === undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return true;
    }
    const { up, total } = link.workers();
    res.writeHead(up >= total ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ workers: { up, total } }));
    return true;
  };
}
