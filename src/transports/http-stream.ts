/**
 * Bidirectional HTTP-streaming at `/connection/http_stream` (protocol.md §11.2). One long POST
 * carries the connect command in its body and every reply in its response: JSON lines, or
 * varint-delimited Protobuf when the request is `application/octet-stream`. Later commands
 * arrive through the emulation endpoint for the session named in the connect result.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CodecError, codecFor } from '../protocol/codec.js';
import type { Command, ProtocolType } from '../protocol/types.js';
import type { Node } from '../core/index.js';
import { isProtobuf, type EmulationSessions } from './emulation.js';
import {
  bodyFailed,
  HttpStreamTransport,
  jsonLines,
  preflight,
  protobufItems,
  readBody,
  respond,
  transportRequest,
  type StreamFormat,
} from './http-common.js';

export interface HttpStreamOptions {
  /** `http_stream.max_request_body_size` (default 65536). */
  maxRequestBodySize?: number;
}

/** Serves `/connection/http_stream`. */
export class HttpStreamHandler {
  constructor(
    private readonly node: Node,
    private readonly sessions: EmulationSessions,
    private readonly opts: HttpStreamOptions = {},
  ) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'OPTIONS') {
      preflight(res, 'POST, OPTIONS');
      return;
    }
    if (req.method !== 'POST') {
      respond(res, 405);
      return;
    }
    const protocol: ProtocolType = isProtobuf(req) ? 'protobuf' : 'json';
    void readBody(req, this.opts.maxRequestBodySize ?? 0).then((read) => {
      if (!read.ok) {
        bodyFailed(res, read.reason);
        return;
      }
      const format = protocol === 'protobuf' ? protobufItems : jsonLines;
      openEmulationStream(this.node, this.sessions, { req, res, frame: read.body, protocol, format, name: 'http_stream' });
    });
  }
}

/** What one emulation stream is opened from. */
export interface EmulationStreamRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The initial command frame (the SDK sends only connect). */
  frame: Uint8Array;
  protocol: ProtocolType;
  format: StreamFormat;
  name: string;
}

/**
 * Opens an emulation session (HTTP-streaming or SSE): decodes the initial frame (400 when
 * malformed), starts the stream, registers the session for the emulation endpoint until
 * the response closes, and runs the initial commands.
 */
export function openEmulationStream(node: Node, sessions: EmulationSessions, s: EmulationStreamRequest): void {
  let commands: Command[];
  try {
    commands = codecFor(s.protocol).decodeCommands(s.frame, node.maxCommandBytes);
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    node.faults.log('info', { transport: s.name, err: err.message }, 'malformed initial command frame');
    respond(s.res, 400, 'Bad Request\n');
    return;
  }
  if (s.res.destroyed) return;
  const transport = new HttpStreamTransport(s.res, { name: s.name, protocol: s.protocol, unidirectional: false }, s.format);
  const client = node.createClient(transport, transportRequest(s.req));
  if (client.state !== 'closed') sessions.add(client);
  s.res.once('close', () => {
    transport.markClosed();
    sessions.remove(client);
    client.transportClosed();
  });
  s.res.on('error', (err) => node.logger.debug({ client: client.id, err: err.message }, `${s.name} write error`));
  transport.start(s.req.httpVersionMajor);
  for (const cmd of commands) void client.runCommand(cmd);
}
