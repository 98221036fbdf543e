/**
 * The part of a session's state that most connections never set: kept in one object the
 * session allocates on the first write of one of its fields, so an anonymous WebSocket
 * connection without expiry carries none of these slots.
 */
import type { TimerHandle } from '../timer-wheel.js';
import type { TransportRequest } from '../transport.js';

const NO_CHANNELS: readonly string[] = Object.freeze([]);

export class SessionExtras {
  /** The request that opened the connection, when the transport object is not it. */
  request: TransportRequest | undefined = undefined;
  /** Emulation and unidirectional transports: the session ID the client is told. */
  sessionId = '';
  connInfo: Uint8Array | undefined = undefined;
  meta: Uint8Array | undefined = undefined;
  /** Headers the client sent in its connect command (`ConnectRequest.headers`), for the proxies. */
  emulatedHeaders: Readonly<Record<string, string>> | undefined = undefined;
  /** Connection expiry, Unix seconds; 0 = never. */
  expireAt = 0;
  /** Channels granted by the connection token, for the refresh comparison. */
  tokenChannels: readonly string[] = NO_CHANNELS;
  expireTimer: TimerHandle | undefined = undefined;
  /** The periodic subscription check (presence refresh, subscription expiry), when any subscription needs it. */
  presenceTimer: TimerHandle | undefined = undefined;
}

/** The value of a field of SessionExtras on a session that has none. */
export const NO_EXTRAS: Readonly<SessionExtras> = Object.freeze(new SessionExtras());
