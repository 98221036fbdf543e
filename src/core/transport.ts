/**
 * What the core needs from a client transport (WebSocket, HTTP-streaming, SSE, ...).
 * Transports own sockets; the core only hands them encoded items and disconnects.
 */
import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';

export interface Transport {
  /** Transport name for logs and metrics, e.g. "websocket". */
  readonly name: string;
  readonly protocol: ProtocolType;
  /** Unidirectional transports get bare pushes and a connect push instead of replies. */
  readonly unidirectional: boolean;
  /** Emulation transports (HTTP-streaming, SSE) get session and node ids in the connect result. */
  readonly emulation: boolean;
  /** False when keepalive is done below the protocol (WebSocket ping frames). */
  readonly appLevelPing: boolean;
  /** Disconnects travel in-band as a push before close (all but bidirectional WebSocket). */
  readonly disconnectPush: boolean;
  /**
   * Writes encoded items (replies or pushes) in order, as one transport write where the
   * transport allows it. Items come from the connection's codec. The array may be shared with
   * other connections (the same publications fanned out): it must not be modified.
   */
  writeItems(items: readonly Uint8Array[]): void;
  /** Bytes written but not yet accepted by the kernel; used for the slow-client bound. */
  bufferedBytes(): number;
  /**
   * Stops (true) or resumes (false) reading from the peer, for backpressure while the
   * session's queued commands drain. Optional: transports that cannot stop reading (commands
   * arriving by separate HTTP requests) leave it out and the session bounds their queue.
   */
  pauseReading?(pause: boolean): void;
  /** Closes the transport; for WebSocket a close frame with the code and reason. */
  close(disconnect: Disconnect): void;
}

/** Details of the HTTP request that opened a connection. */
export interface TransportRequest {
  headers: Record<string, string | string[] | undefined>;
  remoteAddress?: string;
}
