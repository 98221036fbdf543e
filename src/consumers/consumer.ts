/**
 * Async consumers: background readers of an external queue whose messages are server API
 * commands (or publication data) run through the node's ApiExecutor.
 */

/** Where a consumer stands: connecting for the first time, consuming, waiting to reconnect, or closed. */
export type ConsumerStatus = 'starting' | 'running' | 'reconnecting' | 'stopped';

/** What `info` and the admin UI show of one consumer. */
export interface ConsumerState {
  name: string;
  type: string;
  status: ConsumerStatus;
  /** Messages handled (run, or skipped as unrunnable) since start. */
  processed: number;
  /** Failures since start: dropped messages, internal errors retried, connection failures. */
  errors: number;
  /** Messages waiting in the source, when the source tells (queue depth, stream lag, outbox rows). */
  pending?: number;
  lastError?: string;
  /** ISO time of lastError. */
  lastErrorAt?: string;
}

/** One running consumer. */
export interface Consumer {
  /** Consumer name from the configuration. */
  readonly name: string;
  /** Consumer type from the configuration (`postgresql`, `redis_stream`, ...). */
  readonly type: string;
  /** Begins consuming; resolves once the first connection attempt is under way (never throws for a broker outage). */
  start(): Promise<void>;
  /** Stops consuming, lets the message in hand finish (briefly) and releases every connection and timer. */
  close(): Promise<void>;
  /** A snapshot of the consumer's state. */
  state(): ConsumerState;
}

/** Publication data mode settings: the message body is publication data, headers say where it goes. */
export interface PublicationDataModeOptions {
  enabled: boolean;
  /** Header with the comma-separated target channels. */
  channelsHeader: string;
  idempotencyKeyHeader: string;
  /** Header whose boolean value (`true`, `1`, `t`...) asks for a delta publication. */
  deltaHeader: string;
  /** Header with the publication version (unsigned integer). */
  versionHeader: string;
  /** Header with the version epoch. */
  versionEpochHeader: string;
  /** Headers starting with this prefix carry publication tags (name after the prefix). */
  tagsHeaderPrefix: string;
}

/** Publication data mode defaults: Centrifugo's header names. */
export const PUBLICATION_DATA_HEADERS: Omit<PublicationDataModeOptions, 'enabled'> = {
  channelsHeader: 'centrifugo-channels',
  idempotencyKeyHeader: 'centrifugo-idempotency-key',
  deltaHeader: 'centrifugo-delta',
  versionHeader: 'centrifugo-version',
  versionEpochHeader: 'centrifugo-version-epoch',
  tagsHeaderPrefix: 'centrifugo-tag-',
};

/**
 * Delay before retry number `attempt` (1-based) of a message that failed with an internal
 * error: 10 ms plus up to 10 ms of jitter, doubled per retry, at most 5 s.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = (10 + random() * 10) * 2 ** Math.min(Math.max(0, attempt - 1), 20);
  return Math.min(5000, Math.round(base));
}

/**
 * Counters and status of one consumer, kept by its Dispatcher and updated by the consumer for
 * connection events. Plain numbers: reading them costs nothing.
 */
export class ConsumerStats {
  status: ConsumerStatus = 'starting';
  processed = 0;
  errors = 0;
  lastError: string | undefined;
  lastErrorAt: number | undefined;

  /** Records a failure (also counted in `errors`). */
  fail(message: string, now = Date.now()): void {
    this.errors++;
    this.lastError = message;
    this.lastErrorAt = now;
  }

  /** The state as `info` shows it. */
  snapshot(name: string, type: string, pending?: number): ConsumerState {
    const s: ConsumerState = { name, type, status: this.status, processed: this.processed, errors: this.errors };
    if (pending !== undefined) s.pending = pending;
    if (this.lastError !== undefined) {
      s.lastError = this.lastError;
      s.lastErrorAt = new Date(this.lastErrorAt ?? 0).toISOString();
    }
    return s;
  }
}
