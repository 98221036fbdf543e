/**
 * A dedicated PostgreSQL connection that LISTENs on one channel for the outbox consumer and
 * reconnects by itself with backoff. Notifications only wake pollers early: after every
 * (re)connect the owner is told, since notifications sent while it was down are lost.
 */
import pg from 'pg';
import type { Logger } from '../core/index.js';

export interface PgListenOptions {
  /** Connection settings (DSN, TLS, application name). */
  connection: pg.ClientConfig;
  /** Channel to LISTEN on (quoted on use, so any name works). */
  channel: string;
  /** Called with each notification's payload. */
  onNotify: (payload: string) => void;
  /** Called after each successful (re)connect, once LISTEN is in place. */
  onConnected: () => void;
  /** Called with the reason when a listening connection is lost (or the first attempt fails). */
  onLost?: (reason: string) => void;
  logger: Logger;
  /** For logs. */
  name: string;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/** Keeps one LISTEN connection up until close(). */
export class PgListen {
  private client: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PgListenOptions) {}

  /** Starts connecting in the background (never throws; keeps retrying). */
  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.opts.connection);
    let failed = false;
    const lost = (err?: Error): void => {
      if (failed) return;
      failed = true;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      const wasUp = this.client === client;
      if (wasUp) this.client = undefined;
      if (this.closed) return;
      if (wasUp || this.attempt === 0) {
        const reason = err?.message ?? 'connection ended';
        this.opts.logger.warn({ consumer: this.opts.name, err: reason }, 'postgresql outbox LISTEN connection lost, reconnecting');
        this.opts.onLost?.(reason);
      }
      this.schedule();
    };
    client.on('error', (err) => lost(err));
    client.on('end', () => lost());
    client.on('notification', (n) => {
      if (n.channel === this.opts.channel) this.opts.onNotify(n.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.opts.channel.replaceAll('"', '""')}"`);
      if (this.closed || failed) {
        if (!failed) {
          failed = true;
          await client.end().catch(() => undefined);
        }
        return;
      }
      this.client = client;
      this.attempt = 0;
      this.opts.onConnected();
    } catch (err) {
      lost(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined) return;
    this.attempt = Math.min(this.attempt + 1, 16);
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** (this.attempt - 1));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, delay);
  }

  /** Stops listening and closes the connection and the reconnect timer. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.client;
    this.client = undefined;
    if (c !== undefined) {
      c.removeAllListeners('notification');
      await c.end().catch(() => undefined);
    }
  }
}
