/**
 * The emulation endpoint, `POST /emulation` (protocol.md §11.4): client→server commands of
 * HTTP-streaming and SSE sessions. The body names the session and node; the commands are
 * fed to that session as if they had arrived on a bidirectional socket, and their replies
 * travel down the session's stream. The answer is 204 whatever the commands do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CodecError, codecFor } from '../protocol/codec.js';
import { Disconnects } from '../protocol/codes.js';
import { decodeEmulationRequest } from '../protocol/protobuf-codec.js';
import { decodeEmulationRequestJson } from '../protocol/json-codec.js';
import type { Command, EmulationRequest, ProtocolType } from '../protocol/types.js';
import type { ClientSession } from '../core/index.js';
import type { Logger } from '../core/index.js';
import type { Node } from '../core/index.js';
import { bodyFailed, preflight, readBody, respond } from './http-common.js';

/** One decoded emulation request: a command frame for one session. */
export interface EmulationTarget {
  /** Id of the node that owns the session (ConnectResult.node). */
  readonly node: string;
  /** ConnectResult.session of the stream. */
  readonly session: string;
  /** The command frame in the session's encoding: JSON lines or varint-delimited Protobuf. */
  readonly data: Uint8Array;
  /** Encoding of the request body (and so of data). */
  readonly protocol: ProtocolType;
}

/**
 * `ok`: delivered to a live session. `unknown_session`: no such session (closed or never
 * existed); the endpoint still answers 204 and drops the commands, like the reference.
 * `unknown_node`: the node id belongs to no known node (404).
 */
export type EmulationRouteResult = 'ok' | 'unknown_session' | 'unknown_node';

/**
 * Routes emulation requests to the session that owns them. The local implementation knows
 * only this node's sessions. A multi-node implementation (through the broker's control
 * channel) would forward a request whose `node` is another node's id to that node, which
 * routes it locally there, and answer `unknown_node` only for ids no node claims. Delivery
 * is fire-and-forget: the result says where the frame went, not what the commands did.
 */
export interface EmulationRouter {
  route(target: EmulationTarget): Promise<EmulationRouteResult>;
}

/** Where emulation transports register their sessions while their stream is open. */
export interface EmulationSessions {
  add(client: ClientSession): void;
  remove(client: ClientSession): void;
}

/**
 * Cluster-aware router: requests for this node's sessions go to the local registry; requests
 * naming another live node travel there over the node's control channel and are routed
 * locally on arrival.
 */
export class ForwardingEmulationRouter implements EmulationRouter {
  constructor(
    private readonly local: LocalEmulationRouter,
    private readonly node: Node,
  ) {
    node.onControl('emulation', async (body) => {
      const b = body as { session?: string; protocol?: ProtocolType; data?: Uint8Array };
      if (!b.session || !b.data) return;
      await local.route({ node: '', session: b.session, data: b.data, protocol: b.protocol === 'protobuf' ? 'protobuf' : 'json' });
    });
  }

  async route(t: EmulationTarget): Promise<EmulationRouteResult> {
    if (t.node === '' || t.node === this.node.id) return this.local.route(t);
    const sent = await this.node.sendToNode(t.node, 'emulation', { session: t.session, protocol: t.protocol, data: t.data });
    return sent ? 'ok' : 'unknown_node';
  }
}

/** Single-node router and session registry, keyed by ConnectResult.session. */
export class LocalEmulationRouter implements EmulationRouter, EmulationSessions {
  private readonly sessions = new Map<string, ClientSession>();

  constructor(private readonly nodeId: string) {}

  /** Number of open emulation sessions (tests and metrics). */
  get size(): number {
    return this.sessions.size;
  }

  add(client: ClientSession): void {
    this.sessions.set(client.sessionId, client);
  }

  remove(client: ClientSession): void {
    if (this.sessions.get(client.sessionId) === client) this.sessions.delete(client.sessionId);
  }

  async route(t: EmulationTarget): Promise<EmulationRouteResult> {
    // An empty node id is taken as this node: a single node owns every session it knows.
    if (t.node !== '' && t.node !== this.nodeId) return 'unknown_node';
    const client = this.sessions.get(t.session);
    if (!client || client.state === 'closed') return 'unknown_session';
    if (client.protocol === t.protocol) {
      client.handleFrame(t.data);
      return 'ok';
    }
    // The body's encoding decides how its commands decode; replies keep the session's encoding.
    let commands: Command[];
    try {
      commands = codecFor(t.protocol).decodeCommands(t.data, client.node.maxCommandBytes);
    } catch {
      client.close(Disconnects.badRequest);
      return 'ok';
    }
    for (const cmd of commands) void client.runCommand(cmd);
    return 'ok';
  }
}

export interface EmulationOptions {
  /** `emulation.max_request_body_size` (default 65536). */
  maxRequestBodySize?: number;
}

/** Serves `POST /emulation`. */
export class EmulationHandler {
  constructor(
    private readonly router: EmulationRouter,
    private readonly logger: Logger,
    private readonly opts: EmulationOptions = {},
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
    void this.serve(req, res).catch((err: unknown) => {
      this.logger.error({ err }, 'emulation request failed');
      respond(res, 500, 'Internal Server Error\n');
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const read = await readBody(req, this.opts.maxRequestBodySize ?? 0);
    if (!read.ok) {
      bodyFailed(res, read.reason);
      return;
    }
    const protocol: ProtocolType = isProtobuf(req) ? 'protobuf' : 'json';
    let msg: EmulationRequest;
    try {
      msg = protocol === 'protobuf' ? decodeEmulationRequest(read.body) : decodeEmulationRequestJson(read.body);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      this.logger.debug({ err: err.message }, 'malformed emulation request');
      respond(res, 400, 'Bad Request\n');
      return;
    }
    const data = msg.data ?? new Uint8Array(0);
    if (data.length > 0) {
      const result = await this.router.route({ node: msg.node ?? '', session: msg.session ?? '', data, protocol });
      if (result === 'unknown_node') {
        respond(res, 404, 'Not Found\n');
        return;
      }
      if (result === 'unknown_session') this.logger.debug({ session: msg.session }, 'emulation request for unknown session');
    }
    res.writeHead(204).end();
  }
}

/** Content-Type application/octet-stream selects Protobuf on the emulation transports. */
export function isProtobuf(req: IncomingMessage): boolean {
  const ct = req.headers['content-type'] ?? '';
  return ct.split(';')[0]!.trim().toLowerCase() === 'application/octet-stream';
}
