/** Frozen tables of protocol error, disconnect and unsubscribe codes (protocol.md §9, §10). */

/** An error reply to a client command. The connection stays open. */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly temporary = false,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
  toBody(): { code: number; message: string; temporary?: boolean } {
    return this.temporary ? { code: this.code, message: this.message, temporary: true } : { code: this.code, message: this.message };
  }
}

/** A reason to close a connection, with the code clients use to decide whether to reconnect. */
export class Disconnect extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'Disconnect';
  }
  /** Codes 3500-3999 and 4500-4999 are terminal: the client must not reconnect. */
  get reconnect(): boolean {
    return !((this.code >= 3500 && this.code < 4000) || (this.code >= 4500 && this.code < 5000));
  }
}

const e = (code: number, message: string, temporary = false) => Object.freeze(new ProtocolError(code, message, temporary));

export const Errors = Object.freeze({
  internal: e(100, 'internal server error', true),
  unauthorized: e(101, 'unauthorized'),
  unknownChannel: e(102, 'unknown channel'),
  permissionDenied: e(103, 'permission denied'),
  methodNotFound: e(104, 'method not found'),
  alreadySubscribed: e(105, 'already subscribed'),
  limitExceeded: e(106, 'limit exceeded'),
  badRequest: e(107, 'bad request'),
  notAvailable: e(108, 'not available'),
  tokenExpired: e(109, 'token expired'),
  expired: e(110, 'expired'),
  tooManyRequests: e(111, 'too many requests', true),
  unrecoverablePosition: e(112, 'unrecoverable position'),
  concurrentPagination: e(113, 'concurrent pagination', true),
});

const d = (code: number, reason: string) => Object.freeze(new Disconnect(code, reason));

export const Disconnects = Object.freeze({
  connectionClosed: d(3000, 'connection closed'),
  shutdown: d(3001, 'shutdown'),
  serverError: d(3004, 'internal server error'),
  expired: d(3005, 'connection expired'),
  subExpired: d(3006, 'subscription expired'),
  slow: d(3008, 'slow'),
  writeError: d(3009, 'write error'),
  insufficientState: d(3010, 'insufficient state'),
  forceReconnect: d(3011, 'force reconnect'),
  noPong: d(3012, 'no pong'),
  tooManyRequests: d(3013, 'too many requests'),
  stateInvalidated: d(3014, 'state invalidated'),
  invalidToken: d(3500, 'invalid token'),
  badRequest: d(3501, 'bad request'),
  stale: d(3502, 'stale'),
  forceNoReconnect: d(3503, 'force disconnect'),
  connectionLimit: d(3504, 'connection limit'),
  channelLimit: d(3505, 'channel limit'),
  inappropriateProtocol: d(3506, 'inappropriate protocol'),
  permissionDenied: d(3507, 'permission denied'),
  notAvailable: d(3508, 'not available'),
  tooManyErrors: d(3509, 'too many errors'),
});

export const Unsubscribes = Object.freeze({
  client: Object.freeze({ code: 0, reason: 'client unsubscribed' }),
  disconnect: Object.freeze({ code: 1, reason: 'client disconnected' }),
  server: Object.freeze({ code: 2000, reason: 'server unsubscribe' }),
  insufficientState: Object.freeze({ code: 2500, reason: 'insufficient state' }),
  expired: Object.freeze({ code: 2501, reason: 'subscription expired' }),
});
