/**
 * The part uni_sse and uni_http_stream share (protocol.md §11.6, §11.7): connect a
 * unidirectional session from a bare ConnectRequest and stream its pushes. A failed connect
 * becomes a disconnect push in a 200 stream, or, with `connect_code_to_http_response`
 * enabled, a plain HTTP status and body sent before any stream starts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CodecError } from '../protocol/codec.js';
import { Disconnects } from '../protocol/codes.js';
import { decodeConnectRequestJson } from '../protocol/json-codec.js';
import type { ConnectRequest } from '../protocol/types.js';
import type { Node } from '../core/index.js';
import { connectUnidirectional, uniConnectDisconnect, type UniConnectFailure, type UniDisconnectTransform } from '../core/index.js';
import { HttpStreamTransport, respond, transportRequest, type StreamFormat } from './http-common.js';

/** One `connect_code_to_http_response.transforms` entry. */
export interface ConnectCodeHttpTransform {
  readonly code: number;
  readonly to: { readonly status_code: number; readonly body: string };
}

export interface UniStreamOptions {
  /** `<transport>.max_request_body_size` (default 65536). */
  maxRequestBodySize?: number;
  /** `client.connect_code_to_unidirectional_disconnect.transforms`, when enabled. */
  disconnectTransforms?: readonly UniDisconnectTransform[];
  /** `<transport>.connect_code_to_http_response`. */
  connectCodeToHttpResponse?: { enabled?: boolean; transforms?: readonly ConnectCodeHttpTransform[] };
}

/** Decodes a bare ConnectRequest (`null` means `{}`); undefined when malformed. */
export function parseConnectRequest(node: Node, transport: string, bytes: Uint8Array): ConnectRequest | undefined {
  try {
    return decodeConnectRequestJson(bytes);
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    node.faults.log('info', { transport, err: err.message }, 'malformed connect request');
    return undefined;
  }
}

/** Connects a unidirectional session over a streaming response and streams its pushes. */
export async function serveUniStream(
  node: Node,
  opts: UniStreamOptions,
  s: { req: IncomingMessage; res: ServerResponse; connect: ConnectRequest; name: string; format: StreamFormat },
): Promise<void> {
  const { req, res } = s;
  if (res.destroyed) return;
  const transport = new HttpStreamTransport(res, { name: s.name, protocol: 'json', unidirectional: true }, s.format);
  const client = node.createClient(transport, transportRequest(req));
  res.once('close', () => {
    transport.markClosed();
    client.transportClosed();
  });
  res.on('error', (err) => node.logger.debug({ client: client.id, err: err.message }, `${s.name} write error`));
  const httpMode = opts.connectCodeToHttpResponse?.enabled === true;
  if (!httpMode) transport.start(req.httpVersionMajor);
  const failure = await connectUnidirectional(client, s.connect);
  if (!failure) {
    transport.start(req.httpVersionMajor);
    return;
  }
  node.faults.log('info', { client: client.id, transport: s.name, code: failure.code }, 'unidirectional connect failed');
  if (!httpMode) {
    client.close(uniConnectDisconnect(failure, opts.disconnectTransforms));
    return;
  }
  if (transport.isClosed) return;
  const answer = httpAnswer(failure, opts.connectCodeToHttpResponse?.transforms ?? []);
  // Nothing was streamed: the session goes away silently and the HTTP answer says why.
  transport.markClosed();
  client.close(Disconnects.connectionClosed);
  respond(res, answer.status, answer.body);
}

/** Status and body for a failed connect: the first transform with its code, else 500. */
export function httpAnswer(f: UniConnectFailure, transforms: readonly ConnectCodeHttpTransform[]): { status: number; body: string } {
  // Disconnect.message is its reason, ProtocolError.message its error message.
  const message = f.message;
  for (const t of transforms) {
    if (t.code === f.code) return { status: t.to.status_code, body: t.to.body !== '' ? t.to.body : message };
  }
  return { status: 500, body: 'Internal Server Error' };
}
