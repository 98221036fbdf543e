/**
 * Stable codes of broker and presence manager failures; callers branch on these, never on text.
 * `backend_error`: the backing service (Redis, NATS) failed or is unreachable; the operation may or
 * may not have taken effect only when the connection dropped mid-command. `not_available`: the broker
 * does not provide this feature (history on NATS). `bad_channel`: the channel cannot be used with this
 * broker (NATS wildcards). `bad_key`: a map write
 * with an empty key. `bad_data`: this broker cannot store the payload (non-JSON data in the
 * PostgreSQL JSONB tables).
 */
export type BrokerErrorCode = 'unknown_broker' | 'broker_closed' | 'backend_error' | 'not_available' | 'bad_channel' | 'bad_key' | 'bad_data';

/** An internal error raised by a broker, a presence manager or their factory. */
export class BrokerError extends Error {
  /**
   * True when the request itself is at fault (`bad_channel`, `bad_key`, `bad_data`): retrying it
   * cannot succeed, and the server API answers it as a bad request rather than an internal error.
   */
  readonly rejectsInput: boolean;

  constructor(
    readonly code: BrokerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BrokerError';
    this.rejectsInput = code === 'bad_channel' || code === 'bad_key' || code === 'bad_data';
  }
}
