/**
 * Async consumers: background readers of an external queue whose messages are server API
 * commands (or publication data) run through the node's ApiExecutor.
 */

/** One running consumer. */
export interface Consumer {
  /** Consumer name from the configuration. */
  readonly name: string;
  /** Begins consuming; resolves once the first connection attempt is under way (never throws for a broker outage). */
  start(): Promise<void>;
  /** Stops consuming, lets the message in hand finish (briefly) and releases every connection and timer. */
  close(): Promise<void>;
}

/** Publication data mode settings: the message body is publication data, headers say where it goes. */
export interface PublicationDataModeOptions {
  enabled: boolean;
  /** Header with the comma-separated target channels. */
  channelsHeader: string;
  idempotencyKeyHeader: string;
  /** Header whose value `true` asks for a delta publication. */
  deltaHeader: string;
  /** Headers starting with this prefix carry publication tags (name after the prefix). */
  tagsHeaderPrefix: string;
}
