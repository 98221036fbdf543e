/**
 * Connect for unidirectional transports (protocol.md §8.3): the result goes out as a bare
 * `connect` push instead of a reply, and a failed connect is handed back to the transport,
 * which turns it into a disconnect (§8.3 table) or, for uni_sse / uni_http_stream, into a
 * plain HTTP response.
 */
import { Disconnect, Disconnects, Errors, ProtocolError } from '../../protocol/codes.js';
import type { ConnectRequest } from '../../protocol/types.js';
import type { ClientSession, ClientState } from './client.js';
import { connectClient } from './connect.js';

/** Why a unidirectional connect failed: an error (code 1xx) or a disconnect (code 3xxx). */
export type UniConnectFailure = ProtocolError | Disconnect;

/** One `client.connect_code_to_unidirectional_disconnect.transforms` entry. */
export interface UniDisconnectTransform {
  readonly code: number;
  readonly to: { readonly code: number; readonly reason: string };
}

/**
 * Connects a fresh unidirectional session with a bare ConnectRequest and queues the result as
 * the `connect` push, then starts the session's timers. Resolves undefined on success (or when
 * the session was already closed: nothing to do), or the failure. On failure nothing is written
 * and the session stays open: the caller closes it.
 */
export async function connectUnidirectional(c: ClientSession, req: ConnectRequest): Promise<UniConnectFailure | undefined> {
  if (c.state === 'closed') return undefined;
  if (c.state !== 'connecting') return Disconnects.badRequest;
  const events = c.node.events;
  const started = performance.now();
  try {
    const { connect } = await connectClient(c, req);
    events.emit('command', { client: c.id, method: 'connect', durationMs: performance.now() - started });
    // The transport may have gone away meanwhile (the state changes behind TypeScript's back).
    if ((c.state as ClientState) === 'closed') return undefined;
    c.writeReply({ push: { connect } });
    c.runAfterReply();
    return undefined;
  } catch (err) {
    if (err instanceof Disconnect) return err;
    let perr: ProtocolError;
    if (err instanceof ProtocolError) perr = err;
    else {
      c.node.faults.log('error', { client: c.id, err }, 'unidirectional connect failed');
      perr = Errors.internal;
    }
    c.unusable = true;
    events.emit('command', { client: c.id, method: 'connect', durationMs: performance.now() - started, error: perr.code });
    return perr;
  }
}

/**
 * The disconnect a unidirectional client gets for a failed connect. Disconnects pass through;
 * errors go through the configured transforms first, then the reference table: 109 and 110 →
 * 3005, 111 → 3013, 103 → 3507, anything else → 3004.
 */
export function uniConnectDisconnect(f: UniConnectFailure, transforms: readonly UniDisconnectTransform[] = []): Disconnect {
  if (f instanceof Disconnect) return f;
  for (const t of transforms) if (t.code === f.code) return new Disconnect(t.to.code, t.to.reason);
  switch (f.code) {
    case Errors.tokenExpired.code:
    case Errors.expired.code:
      return Disconnects.expired;
    case Errors.tooManyRequests.code:
      return Disconnects.tooManyRequests;
    case Errors.permissionDenied.code:
      return Disconnects.permissionDenied;
    default:
      return Disconnects.serverError;
  }
}
