/**
 * Unidirectional WebSocket at `/connection/uni_websocket` (protocol.md §11.5), JSON only.
 * The bare ConnectRequest comes from the `cf_connect` query parameter (invalid → HTTP 400
 * before the upgrade) or from the first client message (invalid → close 3501); later client
 * messages are ignored. Pushes go one per text frame, or joined with '\n' per flush when
 * `join_push_messages` is on. Keepalive is a `{}` push plus WebSocket ping frames.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { jsonCodec } from '../protocol/codec.js';
import { Disconnects, type Disconnect } from '../protocol/codes.js';
import type { ConnectRequest } from '../protocol/types.js';
import type { Node } from '../core/index.js';
import type { ClientSession } from '../core/index.js';
import type { Transport } from '../core/index.js';
import { connectUnidirectional, uniConnectDisconnect, type UniDisconnectTransform } from '../core/index.js';
import { transportRequest } from './http-common.js';
import { connectParam } from './sse.js';
import { parseConnectRequest } from './uni-stream.js';
import { FramePinger } from './frame-pinger.js';
import { inflatedMessageLimit, wsServerBounds } from './ws-frames.js';

export interface UniWebSocketOptions {
  /** Largest client message in bytes (`uni_websocket.message_size_limit`, default 65536). */
  messageSizeLimit?: number;
  compression?: boolean;
  /** Largest client message of a compressed connection after inflating; 0 = 10 x messageSizeLimit. */
  decompressedMessageSizeLimit?: number;
  /** Interval of the WebSocket ping frames (`client.ping_interval`, default 25 s). */
  pingIntervalMs?: number;
  /** Several pushes of one flush share a frame, joined with '\n'. */
  joinPushMessages?: boolean;
  /** No disconnect push before the close frame. */
  disableDisconnectPush?: boolean;
  /** No close frame: the TCP connection is just dropped after the disconnect push. */
  disableClosingHandshake?: boolean;
  /** `client.connect_code_to_unidirectional_disconnect.transforms`, when enabled. */
  disconnectTransforms?: readonly UniDisconnectTransform[];
}

const closeWaitMs = 5000;

class UniWebSocketTransport implements Transport {
  readonly name = 'uni_websocket';
  readonly protocol = 'json' as const;
  readonly unidirectional = true;
  readonly emulation = false;
  readonly appLevelPing = true;
  readonly disconnectPush: boolean;
  private closed = false;
  private inflight = 0;
  private dropWhenSent = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly opts: UniWebSocketOptions,
  ) {
    this.disconnectPush = !opts.disableDisconnectPush;
  }

  writeItems(items: Uint8Array[]): void {
    if (this.closed) return;
    const frames = this.opts.joinPushMessages ? [jsonCodec.joinFrame(items)] : items;
    for (const frame of frames) {
      this.inflight++;
      this.ws.send(frame, { binary: false }, this.sent);
    }
  }

  /** Send callback: once nothing is in flight, a pending drop (no closing handshake) happens. */
  private readonly sent = (): void => {
    this.inflight--;
    if (this.inflight === 0 && this.dropWhenSent) this.ws.terminate();
  };

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  close(d: Disconnect): void {
    if (this.closed) return;
    this.closed = true;
    const ws = this.ws;
    if (this.opts.disableClosingHandshake) {
      // Let queued frames (the disconnect push) reach the socket before it is dropped.
      if (this.inflight === 0) ws.terminate();
      else this.dropWhenSent = true;
      return;
    }
    ws.close(d.code, d.reason);
    // The timer goes once the socket closes, so a closed connection is not kept for the wait.
    const timer = setTimeout(() => ws.terminate(), closeWaitMs);
    timer.unref();
    ws.once('close', () => clearTimeout(timer));
  }

  markClosed(): void {
    this.closed = true;
  }
}

/** Accepts uni_websocket upgrades and binds each socket to a unidirectional session. */
export class UniWebSocketHandler {
  private readonly wss: WebSocketServer;
  private readonly pinger: FramePinger;

  constructor(
    private readonly node: Node,
    private readonly opts: UniWebSocketOptions = {},
  ) {
    this.wss = new WebSocketServer({
      ...wsServerBounds,
      noServer: true,
      // Without compression ws's one bound is the message size limit; with it, the inflated bound.
      maxPayload: opts.compression ? inflatedMessageLimit(opts.messageSizeLimit || 65536, opts.decompressedMessageSizeLimit) : opts.messageSizeLimit || 65536,
      perMessageDeflate: opts.compression ? { threshold: 0 } : false,
      clientTracking: false,
    });
    this.pinger = new FramePinger(opts.pingIntervalMs && opts.pingIntervalMs > 0 ? opts.pingIntervalMs : 25_000);
  }

  /** Completes an upgrade the server routed here; a malformed `cf_connect` gets HTTP 400. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const param = new URL(req.url ?? '/', 'http://localhost').searchParams.get(connectParam);
    let connect: ConnectRequest | undefined;
    if (param !== null && param !== '') {
      connect = parseConnectRequest(this.node, 'uni_websocket', Buffer.from(param, 'utf8'));
      if (!connect) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\ninvalid connect request');
        return;
      }
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, connect));
  }

  private accept(ws: WebSocket, req: IncomingMessage, connect: ConnectRequest | undefined): void {
    const transport = new UniWebSocketTransport(ws, this.opts);
    const client: ClientSession = this.node.createClient(transport, transportRequest(req));
    this.pinger.add(ws);
    ws.on('close', () => {
      transport.markClosed();
      this.pinger.remove(ws);
      client.transportClosed();
    });
    ws.on('error', (err) => this.node.logger.debug({ client: client.id, err: err.message }, 'uni_websocket error'));
    if (connect) {
      void this.connect(client, connect);
      return;
    }
    // The first message is the connect request; anything after it is read and ignored.
    ws.once('message', (data) => {
      const req = parseConnectRequest(this.node, 'uni_websocket', toBytes(data));
      if (req) {
        void this.connect(client, req);
        return;
      }
      // Like the reference: a close frame with 3501, no disconnect push.
      transport.markClosed();
      if (this.opts.disableClosingHandshake) ws.terminate();
      else ws.close(Disconnects.badRequest.code, Disconnects.badRequest.reason);
      client.close(Disconnects.badRequest);
    });
  }

  private async connect(client: ClientSession, req: ConnectRequest): Promise<void> {
    const failure = await connectUnidirectional(client, req);
    if (!failure) return;
    this.node.faults.log('info', { client: client.id, transport: 'uni_websocket', code: failure.code }, 'unidirectional connect failed');
    client.close(uniConnectDisconnect(failure, this.opts.disconnectTransforms));
  }

  close(): void {
    this.pinger.close();
    this.wss.close();
  }
}

function toBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
