/**
 * A namespace's `shared_poll` options resolved for the engine (server.md §1.6.9): zero
 * values take Centrifugo's defaults once, here, so the engine never sees a zero meaning
 * "default".
 */

export type SharedPollMode = 'versionless' | 'versioned';

/** The engine's view of one shared-poll namespace. Durations in ms. */
export interface SharedPollChannelConfig {
  readonly mode: SharedPollMode;
  /** Period of the timer poll, the cycle's own duration included. */
  readonly refreshIntervalMs: number;
  /** Keys per backend request. */
  readonly refreshBatchSize: number;
  /** Keys one subscriber may track on the channel (error 106 beyond). */
  readonly maxKeysPerConnection: number;
  /** Wait before a channel state without keys is dropped; negative drops it at once. */
  readonly channelShutdownDelayMs: number;
  /** How long a key stays tracked after its signature expired. */
  readonly trackExpiredExtraDelayMs: number;
  /** shared_poll_publish is allowed (versioned mode only). */
  readonly publishEnabled: boolean;
}

/** The namespace option block as configured (snake_case, durations in ms, 0 = default). */
export interface SharedPollOptionsInput {
  readonly mode?: string;
  readonly refresh_interval?: number;
  readonly refresh_batch_size?: number;
  readonly max_keys_per_connection?: number;
  readonly channel_shutdown_delay?: number;
  readonly track_expired_extra_delay?: number;
  readonly publish_enabled?: boolean;
}

export const SHARED_POLL_DEFAULTS = Object.freeze({
  refreshIntervalMs: 10_000,
  refreshBatchSize: 1000,
  maxKeysPerConnection: 5000,
  channelShutdownDelayMs: 1000,
  trackExpiredExtraDelayMs: 25_000,
  /** Node-wide concurrent backend calls when `shared_poll.concurrency_limit` is 0 or negative. */
  concurrencyLimit: 64,
  /** Bound on one backend call, whatever the proxy's own timeout. */
  callTimeoutMs: 30_000,
});

const positive = (v: number | undefined, dflt: number): number => (v !== undefined && v > 0 ? v : dflt);

/** Resolves a namespace's options: 0 or absent → default; a negative shutdown delay stays negative. */
export function sharedPollChannelConfig(o: SharedPollOptionsInput): SharedPollChannelConfig {
  const d = SHARED_POLL_DEFAULTS;
  const shutdown = o.channel_shutdown_delay ?? 0;
  return Object.freeze({
    mode: o.mode === 'versioned' ? 'versioned' : 'versionless',
    refreshIntervalMs: positive(o.refresh_interval, d.refreshIntervalMs),
    refreshBatchSize: Math.floor(positive(o.refresh_batch_size, d.refreshBatchSize)),
    maxKeysPerConnection: Math.floor(positive(o.max_keys_per_connection, d.maxKeysPerConnection)),
    channelShutdownDelayMs: shutdown === 0 ? d.channelShutdownDelayMs : shutdown,
    trackExpiredExtraDelayMs: positive(o.track_expired_extra_delay, d.trackExpiredExtraDelayMs),
    publishEnabled: o.publish_enabled === true,
  });
}

/** `shared_poll.concurrency_limit` as the engine applies it: 0 or negative means 64. */
export function sharedPollConcurrencyLimit(v: number | undefined): number {
  return v !== undefined && v > 0 ? Math.floor(v) : SHARED_POLL_DEFAULTS.concurrencyLimit;
}
