/**
 * The uni_grpc transport (protocol.md §11, server.md uni transports): the
 * `CentrifugoUniStream.Consume` server stream of proto/unistream.proto. The call's
 * ConnectRequest connects one unidirectional Protobuf session; every push, starting with
 * `connect`, goes down the stream as one bare protocol Push message. The session ends with a
 * `disconnect` push and status OK when the server disconnects it; the client cancelling the
 * call closes the session. Keepalive is GRPC's own (HTTP/2 pings), no application pings.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Disconnect } from '../protocol/codes.js';
import type { ConnectRequest, SubscribeRequest } from '../protocol/types.js';
import type { Node, Transport, TransportRequest } from '../core/index.js';
import { connectUnidirectional, uniConnectDisconnect, type UniDisconnectTransform } from '../core/index.js';

/** Fully qualified name of the stream service. */
export const UNI_GRPC_SERVICE = 'centrifugal.centrifugo.unistream.CentrifugoUniStream';

/** proto/unistream.proto of the installed package (this file compiles to dist/src/transports/). */
export const uniStreamProtoPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'proto', 'unistream.proto');

/** GRPC server options of the transport: keepalive pings every 25 s, 5 s to answer, clients may ping every 5 s. */
export const UNI_GRPC_KEEPALIVE: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 25_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
};

export interface UniGrpcOptions {
  /** `client.connect_code_to_unidirectional_disconnect.transforms`, when enabled. */
  disconnectTransforms?: readonly UniDisconnectTransform[];
}

/** The ConnectRequest message as proto-loader decodes it (snake_case, bytes as Buffers). */
interface ConnectMessage {
  token?: string;
  data?: Buffer;
  subs?: Record<string, { recover?: boolean; epoch?: string; offset?: number }>;
  name?: string;
  version?: string;
  headers?: Record<string, string>;
}

/** The protocol ConnectRequest of a stream's ConnectRequest message. */
export function connectRequestOf(m: ConnectMessage): ConnectRequest {
  const out: ConnectRequest = {};
  if (m.token) out.token = m.token;
  if (m.data && m.data.length > 0) out.data = m.data;
  if (m.name) out.name = m.name;
  if (m.version) out.version = m.version;
  if (m.headers && Object.keys(m.headers).length > 0) out.headers = m.headers;
  if (m.subs) {
    const subs: Record<string, SubscribeRequest> = {};
    for (const [channel, s] of Object.entries(m.subs)) {
      const sub: SubscribeRequest = {};
      if (s.recover) sub.recover = true;
      if (s.epoch) sub.epoch = s.epoch;
      if (s.offset) sub.offset = s.offset;
      Object.defineProperty(subs, channel, { value: sub, enumerable: true, writable: true, configurable: true });
    }
    out.subs = subs;
  }
  return out;
}

/** GRPC metadata as request headers (text entries; several values joined with `, `). */
export function metadataHeaders(md: grpc.Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, values] of Object.entries(md.toJSON())) {
    if (key.endsWith('-bin')) continue;
    const text = values.filter((v): v is string => typeof v === 'string');
    if (text.length > 0) Object.defineProperty(headers, key, { value: text.join(', '), enumerable: true, writable: true, configurable: true });
  }
  return headers;
}

/** The message of one Protobuf codec item: the item without its varint length prefix. */
export function stripLengthPrefix(item: Uint8Array): Buffer {
  let i = 0;
  while (i < item.length && (item[i]! & 0x80) !== 0) i++;
  return Buffer.from(item.buffer, item.byteOffset + i + 1, item.byteLength - i - 1);
}

/** The peer address of a call (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`) without the port. */
function peerAddress(peer: string): string | undefined {
  const m = /^(?:ipv4:|ipv6:)?\[?([^\]]*?)\]?:\d+$/.exec(peer);
  return m?.[1] || undefined;
}

/**
 * One stream as a session's transport. Bytes handed to the stream but not yet flushed to
 * HTTP/2 count as buffered, so a client that stops reading (flow control) trips the
 * session's queue bound and is disconnected as slow.
 */
class UniGrpcTransport implements Transport {
  readonly name = 'uni_grpc';
  readonly protocol = 'protobuf';
  readonly unidirectional = true;
  readonly emulation = false;
  readonly appLevelPing = false;
  readonly disconnectPush = true;
  private pending = 0;
  private ended = false;

  constructor(private readonly call: grpc.ServerWritableStream<unknown, Buffer>) {}

  writeItems(items: Uint8Array[]): void {
    if (this.ended) return;
    for (const item of items) {
      const msg = stripLengthPrefix(item);
      this.pending += msg.length;
      this.call.write(msg, () => {
        this.pending -= msg.length;
      });
    }
  }

  bufferedBytes(): number {
    return this.pending;
  }

  /** The client went away: nothing more is written. */
  markEnded(): void {
    this.ended = true;
  }

  close(_d: Disconnect): void {
    if (this.ended) return;
    this.ended = true;
    // Status OK after what was written (the disconnect push) is flushed.
    this.call.end();
  }
}

/** What the request deserializer returns for bytes that are not a ConnectRequest. */
const MALFORMED: unique symbol = Symbol('malformed');

/** Adds the CentrifugoUniStream service to a GRPC server; each Consume call is one client session. */
export function addUniGrpcService(server: grpc.Server, node: Node, opts: UniGrpcOptions = {}, protoPath = uniStreamProtoPath): void {
  const pkg = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false });
  const service = pkg[UNI_GRPC_SERVICE] as grpc.ServiceDefinition | undefined;
  const consume = service?.Consume;
  if (!consume) throw new Error(`${UNI_GRPC_SERVICE}.Consume missing from the stream proto`);
  const decode = consume.requestDeserialize;
  const definition: grpc.ServiceDefinition = {
    Consume: {
      ...consume,
      // Pushes are already Protobuf: they go out as they are.
      responseSerialize: (b: Buffer) => b,
      // Undecodable bytes reach the handler as a marker, which answers INVALID_ARGUMENT.
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch {
          return MALFORMED;
        }
      },
    },
  };
  server.addService(definition, {
    Consume: (call: grpc.ServerWritableStream<ConnectMessage | typeof MALFORMED, Buffer>) => {
      if (call.request === MALFORMED) {
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'malformed connect request' });
        return;
      }
      serveConsume(node, opts, call as grpc.ServerWritableStream<ConnectMessage, Buffer>).catch((err: unknown) => {
        node.faults.log('error', { err }, 'uni_grpc connection failed');
        call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error' });
      });
    },
  });
}

async function serveConsume(node: Node, opts: UniGrpcOptions, call: grpc.ServerWritableStream<ConnectMessage, Buffer>): Promise<void> {
  const transport = new UniGrpcTransport(call as grpc.ServerWritableStream<unknown, Buffer>);
  const request: TransportRequest = { headers: metadataHeaders(call.metadata) };
  const addr = peerAddress(call.getPeer());
  if (addr) request.remoteAddress = addr;
  const client = node.createClient(transport, request);
  const gone = (): void => {
    transport.markEnded();
    client.transportClosed();
  };
  call.once('cancelled', gone);
  call.once('close', gone);
  call.on('error', (err: Error) => node.logger.debug({ client: client.id, err: err.message }, 'uni_grpc write error'));
  const failure = await connectUnidirectional(client, connectRequestOf(call.request));
  if (!failure) return;
  node.faults.log('info', { client: client.id, transport: 'uni_grpc', code: failure.code }, 'unidirectional connect failed');
  client.close(uniConnectDisconnect(failure, opts.disconnectTransforms));
}
