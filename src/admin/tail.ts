/**
 * Live tail of one channel for the admin UI: `GET <prefix>/admin/tail?channel=<ch>` answers a
 * `text/event-stream` of the channel's publications, joins and leaves as they reach this node.
 * It uses the node's own channel machinery: the node registers interest with the broker
 * (acquireChannel, as for a subscriber) and the tail listens to the node's publication events,
 * so it sees exactly what local subscribers see, on any broker.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JoinLeaveEvent, PublicationEvent } from '../core/index.js';
import type { ClientInfo } from '../protocol/types.js';

/** What the tail needs from the node. */
export interface TailSource {
  readonly events: EventEmitter;
  acquireChannel(channel: string): Promise<void>;
  releaseChannel(channel: string): void;
  /** Undefined when no namespace matches the channel. */
  channelOptions(channel: string): unknown;
}

/** At most this many tails at once (each holds a broker subscription). */
const MAX_TAILS = 32;
const HEARTBEAT_MS = 15_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Publication data for display: JSON when it parses, else text, else base64. */
export function displayData(data: Uint8Array): { data?: unknown; text?: string; base64?: string } {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { base64: Buffer.from(data).toString('base64') };
  }
  try {
    return { data: JSON.parse(text) as unknown };
  } catch {
    return { text };
  }
}

function infoView(info: ClientInfo | undefined): object | undefined {
  if (!info) return undefined;
  return { user: info.user, client: info.client, ...(info.conn_info ? { conn_info: displayData(info.conn_info) } : {}), ...(info.chan_info ? { chan_info: displayData(info.chan_info) } : {}) };
}

export class ChannelTails {
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly node: TailSource) {}

  /** Serves one tail request (already authorized). */
  handle(req: IncomingMessage, res: ServerResponse, channel: string): void {
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (channel === '' || this.node.channelOptions(channel) === undefined) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":102,"message":"unknown channel"}}');
      return;
    }
    if (this.open.size >= MAX_TAILS) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('too many tails\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    this.open.add(res);
    const send = (msg: object): void => {
      res.write(`data: ${JSON.stringify(msg)}\n\n`);
    };
    const onPub = (e: PublicationEvent): void => {
      if (e.channel !== channel) return;
      send({ type: 'publication', channel, offset: e.pub.offset || undefined, tags: e.pub.tags, info: infoView(e.pub.info), time: Date.now(), ...displayData(e.pub.data) });
    };
    const onJoin = (e: JoinLeaveEvent): void => {
      if (e.channel === channel) send({ type: 'join', channel, info: infoView(e.info), time: Date.now() });
    };
    const onLeave = (e: JoinLeaveEvent): void => {
      if (e.channel === channel) send({ type: 'leave', channel, info: infoView(e.info), time: Date.now() });
    };
    const events = this.node.events;
    events.on('publication', onPub);
    events.on('join', onJoin);
    events.on('leave', onLeave);
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    let acquired = false;
    let done = false;
    const cleanup = (): void => {
      if (done) return;
      done = true;
      clearInterval(heartbeat);
      events.off('publication', onPub);
      events.off('join', onJoin);
      events.off('leave', onLeave);
      this.open.delete(res);
      if (acquired) this.node.releaseChannel(channel);
    };
    res.once('close', cleanup);
    this.node.acquireChannel(channel).then(
      () => {
        acquired = true;
        if (done) {
          this.node.releaseChannel(channel);
          return;
        }
        send({ type: 'subscribed', channel, time: Date.now() });
      },
      () => {
        send({ type: 'error', message: 'broker subscribe failed' });
        res.end();
      },
    );
  }

  /** Ends every open tail (server shutdown). */
  close(): void {
    for (const res of [...this.open]) res.end();
  }
}
