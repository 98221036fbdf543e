/**
 * One dedicated connection that LISTENs on a set of channels and reconnects by itself with
 * backoff. NOTIFY only wakes pollers early: after every (re)connect the owner is told to poll,
 * since notifications sent while it was down are lost.
 */
import pg from 'pg';
import type { Logger } from '../../core/index.js';
import type { TlsBlock } from '../tls.js';
import { clientConfig } from './pool.js';

export interface NotifyListenerOptions {
  dsn?: string;
  tls?: TlsBlock;
  /** Channels to LISTEN on (plain identifiers; quoted on use). */
  channels: readonly string[];
  /** Called for each notification. */
  onNotify: (channel: string, payload: string) => void;
  /** Called after each successful (re)connect, once LISTEN is in place. */
  onConnected?: () => void;
  applicationName: string;
  logger?: Logger;
}

/** Reconnect delay after `attempt` consecutive failures: 100 ms doubling up to 5 s. */
export function listenRetryDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.max(0, attempt - 1), 5000);
}

export class NotifyListener {
  private client: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private connectedOnce: Promise<void> | undefined;

  constructor(private readonly opts: NotifyListenerOptions) {}

  /** Starts listening; resolves after the first attempt (connected or not: it keeps retrying). */
  start(): Promise<void> {
    this.connectedOnce ??= this.connect();
    return this.connectedOnce;
  }

  /** Whether LISTEN is in place right now. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(clientConfig(this.opts.dsn, this.opts.tls, this.opts.applicationName));
    const lost = (err?: Error): void => {
      if (this.client !== client) return;
      this.client = undefined;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (!this.closed) {
        this.opts.logger?.warn({ err: err?.message ?? 'connection ended', listener: this.opts.applicationName }, 'postgres LISTEN connection lost, reconnecting');
        this.schedule();
      }
    };
    client.on('error', (err) => lost(err));
    client.on('end', () => lost());
    client.on('notification', (n) => this.opts.onNotify(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      for (const ch of this.opts.channels) await client.query(`LISTEN "${ch.replaceAll('"', '""')}"`);
      if (this.closed) {
        await client.end().catch(() => {});
        return;
      }
      this.client = client;
      this.attempt = 0;
      this.opts.onConnected?.();
    } catch (err) {
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (!this.closed) {
        if (this.attempt === 0) this.opts.logger?.warn({ err: (err as Error).message, listener: this.opts.applicationName }, 'postgres LISTEN connection failed, retrying');
        this.schedule();
      }
    }
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, listenRetryDelayMs(this.attempt));
    this.timer.unref();
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('notification');
      await c.end().catch(() => {});
    }
  }
}
