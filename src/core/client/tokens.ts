/**
 * Token verification for the four commands that take one (connect, refresh, subscribe,
 * sub_refresh): one place that verifies and maps a refusal to what the client gets, since
 * each command answers an expired, an invalid and an unverifiable token differently.
 */
import type { Disconnect, ProtocolError } from '../../protocol/codes.js';
import { TokenError, type ConnectCredentials, type SubscribeCredentials } from '../ports.js';
import type { ClientSession } from './client.js';

/** What a command answers for each kind of refusal. */
export interface TokenRefusals {
  /** The token's exp (or nbf) is past. */
  readonly expired: ProtocolError | Disconnect;
  /** Bad signature, claims or format. */
  readonly invalid: ProtocolError | Disconnect;
  /** No token verifier is configured. */
  readonly unverifiable: ProtocolError | Disconnect;
}

/** Verifies a connection token; refusals are thrown as `refusals` says (invalid ones logged, rate-limited). */
export async function verifiedConnectToken(c: ClientSession, token: string, refusals: TokenRefusals): Promise<ConnectCredentials> {
  const verifier = c.node.tokenVerifier;
  if (!verifier) throw refusals.unverifiable;
  try {
    return await verifier.verifyConnectToken(token);
  } catch (err) {
    throw refusal(c, err, refusals, 'invalid connection token');
  }
}

/** Verifies a subscription token; refusals are thrown as `refusals` says. */
export async function verifiedSubscribeToken(c: ClientSession, token: string, refusals: TokenRefusals): Promise<SubscribeCredentials> {
  const verifier = c.node.tokenVerifier;
  if (!verifier) throw refusals.unverifiable;
  try {
    return await verifier.verifySubscribeToken(token);
  } catch (err) {
    throw refusal(c, err, refusals, 'invalid subscription token');
  }
}

function refusal(c: ClientSession, err: unknown, refusals: TokenRefusals, msg: string): unknown {
  if (!(err instanceof TokenError)) return err;
  if (err.kind === 'expired') return refusals.expired;
  c.node.faults.log('info', { client: c.id, err: err.message }, msg);
  return refusals.invalid;
}
