/**
 * Graphite export (server.md §7.7): every interval, a snapshot of the Prometheus registry is
 * formatted as plaintext lines and written to a Graphite (carbon) TCP listener over one
 * long-lived connection. When the listener is down the batches wait in a bounded queue (the
 * oldest dropped first) and the connection is retried at the next interval; nothing here can
 * throw into the process.
 */
import net from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/index.js';
import { GraphiteFormatter, graphitePrefix } from './graphite-format.js';

export interface GraphiteOptions {
  /** The registry to export (all of its metrics). */
  registry: Registry;
  host: string;
  port: number;
  /** `graphite.prefix`; the node name is appended as the next path component. */
  prefix: string;
  nodeName: string;
  /** Push period; 0 or less means the default 10 s. */
  intervalMs: number;
  /** Tagged format (`path;label=value`) instead of labels as path components. */
  tags: boolean;
  logger: Logger;
  /** Bound of queued, unsent lines in bytes (default 4 MiB); also the bound of the socket's own buffer. */
  maxBufferBytes?: number;
  /** Connect timeout (default 1 s). */
  connectTimeoutMs?: number;
  /** Wall clock in ms for the line timestamps (default Date.now). */
  now?: () => number;
}

const DEFAULT_INTERVAL_MS = 10_000;
const DEFAULT_MAX_BUFFER = 4 * 1024 * 1024;

/** Pushes a registry to Graphite every interval once started; close() stops it and drops the connection. */
export class GraphiteExporter {
  private readonly formatter: GraphiteFormatter;
  private readonly intervalMs: number;
  private readonly maxBytes: number;
  private readonly addr: string;
  private timer: NodeJS.Timeout | undefined;
  private socket: net.Socket | undefined;
  private queue: string[] = [];
  private queuedBytes = 0;
  private busy = false;
  private closed = false;
  private failing = false;
  /** Batches dropped because the queue was full (for logs). */
  private dropped = 0;

  constructor(private readonly opts: GraphiteOptions) {
    this.formatter = new GraphiteFormatter(graphitePrefix(opts.prefix, opts.nodeName), opts.tags);
    this.intervalMs = opts.intervalMs > 0 ? opts.intervalMs : DEFAULT_INTERVAL_MS;
    this.maxBytes = opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER;
    this.addr = `${opts.host}:${opts.port}`;
  }

  /** Starts the periodic push; the first batch goes out one interval after start. */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.pushOnce(), this.intervalMs);
    this.timer.unref();
  }

  /** Takes one snapshot, queues its lines and writes what the connection accepts. Never rejects. */
  async pushOnce(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    try {
      const families = await this.opts.registry.getMetricsAsJSON();
      if (this.closed) return;
      const now = this.opts.now ?? Date.now;
      this.enqueue(this.formatter.format(families, Math.floor(now() / 1000)));
      this.flush();
    } catch (err) {
      this.opts.logger.warn({ err }, 'graphite: collecting metrics failed');
    } finally {
      this.busy = false;
    }
  }

  /** Stops the timer, drops queued lines and ends the connection (destroyed after 1 s at most). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    const s = this.socket;
    this.socket = undefined;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const killer = setTimeout(() => s.destroy(), 1000);
      s.once('close', () => {
        clearTimeout(killer);
        resolve();
      });
      s.end();
    });
  }

  private enqueue(batch: string): void {
    if (batch === '') return;
    const bytes = Buffer.byteLength(batch);
    this.queue.push(batch);
    this.queuedBytes += bytes;
    while (this.queuedBytes > this.maxBytes && this.queue.length > 0) {
      const old = this.queue.shift() as string;
      this.queuedBytes -= Buffer.byteLength(old);
      this.dropped++;
    }
  }

  private flush(): void {
    const s = this.socket;
    if (!s) {
      if (this.queue.length > 0) this.connect();
      return;
    }
    if (s.connecting) return;
    // A listener that stopped reading leaves a whole bound in the socket: give up on that connection.
    if (s.writableLength > this.maxBytes) {
      this.opts.logger.warn({ addr: this.addr, buffered: s.writableLength }, 'graphite: listener is not reading, reconnecting');
      s.destroy();
      return;
    }
    const batches = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const batch of batches) s.write(batch);
  }

  private connect(): void {
    const s = net.connect({ host: this.opts.host, port: this.opts.port });
    this.socket = s;
    s.setTimeout(this.opts.connectTimeoutMs ?? 1000);
    s.once('timeout', () => s.destroy(new Error('connect timeout')));
    s.once('connect', () => {
      s.setTimeout(0);
      if (this.failing) this.opts.logger.info({ addr: this.addr, dropped_batches: this.dropped }, 'graphite: connected');
      this.failing = false;
      this.dropped = 0;
      this.flush();
    });
    s.on('error', (err) => {
      // One line per outage, not one per interval.
      if (!this.failing) this.opts.logger.warn({ addr: this.addr, err: err.message }, 'graphite: export failed, retrying every interval');
      this.failing = true;
    });
    // Carbon never answers; read and discard so a chatty peer cannot fill our buffers.
    s.on('data', () => undefined);
    // A listener that closed its side is gone: the next push reconnects.
    const gone = (): void => {
      if (this.socket === s) this.socket = undefined;
    };
    s.once('end', gone);
    s.once('close', gone);
  }
}
