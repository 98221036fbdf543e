/** Stable codes of broker and presence manager failures; callers branch on these, never on text. */
export type BrokerErrorCode = 'unknown_broker' | 'broker_closed';

/** An internal error raised by a broker, a presence manager or their factory. */
export class BrokerError extends Error {
  constructor(
    readonly code: BrokerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BrokerError';
  }
}
