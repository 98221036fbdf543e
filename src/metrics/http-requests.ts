/**
 * `centrifugo_node_incoming_http_requests_total{path,method,status}`, Centrifugo's count of HTTP
 * requests (with `prometheus.instrument_http_handlers`). `path` is the route that served the
 * request, never the request's own path: an endpoint's exact path, a subtree prefix ending in
 * `/` (the admin UI), or `other` when no route matched, so clients cannot grow the registry.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';

/** The routes requests are labelled by: exact paths, and prefixes (ending in `/`) of subtrees. */
export interface HttpRoutes {
  exact: Iterable<string>;
  subtrees: Iterable<string>;
}

/** Labels requests by route and counts them; one per metrics registry. */
export class HttpRequestCounter {
  private readonly exact = new Set<string>();
  /** Longest first, so the most specific subtree wins. */
  private subtrees: string[] = [];
  private readonly counter: Counter<'path' | 'method' | 'status'>;

  constructor(registry: Registry) {
    this.counter = new Counter({
      name: 'centrifugo_node_incoming_http_requests_total',
      help: 'Number of incoming HTTP requests',
      labelNames: ['path', 'method', 'status'],
      registers: [registry],
    });
  }

  /** Adds routes to label by (an exact path wins over any subtree). */
  addRoutes(routes: HttpRoutes): void {
    for (const p of routes.exact) this.exact.add(p);
    this.subtrees = [...new Set([...this.subtrees, ...routes.subtrees])].sort((a, b) => b.length - a.length);
  }

  /** The route label of a request path (query ignored). */
  routeOf(url: string | undefined): string {
    const raw = url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    if (this.exact.has(path)) return path;
    for (const s of this.subtrees) if (path.startsWith(s)) return s;
    return 'other';
  }

  /** Counts the request once its response is done (or its connection went away), with the status sent. */
  observe(req: IncomingMessage, res: ServerResponse): void {
    res.once('close', () => this.count(req, res.statusCode));
  }

  /** Counts a WebSocket upgrade request: the status Gyre refused it with, or 101 when a transport took it. */
  upgrade(req: IncomingMessage, status: number): void {
    this.count(req, status);
  }

  private count(req: IncomingMessage, status: number): void {
    this.counter.inc({ path: this.routeOf(req.url), method: req.method ?? 'GET', status: String(status) });
  }
}
