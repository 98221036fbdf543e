/**
 * WebSocket connections with permessage-deflate, through the `ws` package (Gyre's own
 * reader in websocket.ts handles every other connection). Frames of connections whose
 * negotiation ended without an extension are still written straight to the socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { codecFor, type Codec } from '../protocol/codec.js';
import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { Node } from '../core/index.js';
import type { ClientSession } from '../core/index.js';
import type { Transport } from '../core/index.js';
import type { FramePinger } from './frame-pinger.js';
import { UpgradeRequest } from './upgrade-request.js';
import { BidiWebSocketTransport } from './websocket-base.js';
import { framedItems, truncateReason, wsServerBounds } from './ws-frames.js';

const closeWaitMs = 5000;

/** ws readyState of an open connection. */
const OPEN = 1;

class WebSocketTransport extends BidiWebSocketTransport implements Transport {
  // Derived properties are getters: one of these lives per connection, so every field counts.
  /** App-level pings unless the connection asked for WebSocket ping frames. */
  get appLevelPing(): boolean {
    return this.pinger === undefined;
  }
  private get binary(): boolean {
    return this.protocol === 'protobuf';
  }
  private get codec(): Codec {
    return codecFor(this.protocol);
  }
  /** The TCP socket, for writing prebuilt frames; undefined when an extension (compression) is in use. */
  private readonly socket: Socket | undefined;
  private closed = false;
  /** The session fed by this socket; set right after the session is created. */
  client: ClientSession | undefined = undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: ProtocolType,
    /** Set for `cf_ws_frame_ping_pong` connections: the pinger that sends them WebSocket pings. */
    readonly pinger: FramePinger | undefined,
  ) {
    super();
    // Without extensions a frame is just header + payload, so it can be built once and
    // written straight to the socket. ws has no public accessor for its socket.
    this.socket = ws.extensions === '' ? (ws as unknown as { _socket: Socket })._socket : undefined;
  }

  writeItems(items: Uint8Array[]): void {
    if (this.closed) return;
    if (this.socket !== undefined && this.ws.readyState === OPEN) {
      this.socket.write(framedItems(items, this.binary, this.codec));
      return;
    }
    // Compressed connections, and the closing handshake (ws keeps its after-close accounting).
    this.ws.send(items.length === 1 ? items[0]! : this.codec.joinFrame(items), { binary: this.binary });
  }

  /** Backpressure from the session: ws stops reading from the socket while paused. */
  pauseReading(pause: boolean): void {
    if (pause) this.ws.pause();
    else this.ws.resume();
  }

  bufferedBytes(): number {
    // Frames written directly bypass ws's sender, whose own backlog then stays empty.
    return this.socket !== undefined && this.ws.readyState === OPEN ? this.socket.writableLength : this.ws.bufferedAmount;
  }

  close(d: Disconnect): void {
    if (this.closed) return;
    this.closed = true;
    const ws = this.ws;
    try {
      ws.close(d.code, truncateReason(d.reason));
    } catch {
      // A code the WebSocket protocol cannot carry: drop the connection instead.
      ws.terminate();
      return;
    }
    // The timer goes once the socket closes, so a closed connection is not kept for the wait.
    const timer = setTimeout(() => ws.terminate(), closeWaitMs);
    timer.unref();
    ws.once('close', () => clearTimeout(timer));
  }

  markClosed(): void {
    this.closed = true;
  }
}

/** ws's WebSocket with a slot for its transport, so that event listeners can be shared functions. */
class GyreWebSocket extends WebSocket {
  transport: WebSocketTransport | undefined = undefined;
}

function onSocketMessage(this: WebSocket, data: RawData): void {
  (this as GyreWebSocket).transport?.client?.handleFrame(toBytes(data));
}

function onSocketClose(this: WebSocket): void {
  const transport = (this as GyreWebSocket).transport;
  if (!transport) return;
  transport.markClosed();
  transport.pinger?.remove(this);
  transport.client?.transportClosed();
}

function onSocketError(this: WebSocket, err: Error): void {
  const client = (this as GyreWebSocket).transport?.client;
  client?.node.logger.debug({ client: client.id, err: err.message }, 'websocket error');
}

/** Accepts the compressed connections of a WebSocketHandler through ws. */
export class DeflateWebSockets {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly node: Node,
    maxMessageBytes: number,
    private readonly pinger: FramePinger,
  ) {
    this.wss = new WebSocketServer({
      ...wsServerBounds,
      noServer: true,
      maxPayload: maxMessageBytes,
      perMessageDeflate: { threshold: 0 },
      clientTracking: false,
      WebSocket: GyreWebSocket,
      handleProtocols: (protocols) => {
        if (protocols.has('centrifuge-protobuf')) return 'centrifuge-protobuf';
        if (protocols.has('centrifuge-json')) return 'centrifuge-json';
        return false;
      },
    });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: ProtocolType, framePingPong: boolean): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws as GyreWebSocket, req, protocol, framePingPong));
  }

  private accept(ws: GyreWebSocket, req: IncomingMessage, protocol: ProtocolType, framePingPong: boolean): void {
    const transport = new WebSocketTransport(ws, protocol, framePingPong ? this.pinger : undefined);
    ws.transport = transport;
    transport.client = this.node.createClient(transport, new UpgradeRequest(req));
    if (framePingPong) this.pinger.add(ws);
    // Shared listener functions (no closures per connection): they find the session through the socket.
    ws.on('message', onSocketMessage);
    ws.on('close', onSocketClose);
    ws.on('error', onSocketError);
  }

  close(): void {
    this.wss.close();
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
