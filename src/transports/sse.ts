/**
 * Bidirectional SSE at `/connection/sse` (protocol.md §11.3), JSON only. The initial command
 * frame comes in the `cf_connect` query parameter of a GET (an EventSource), or as the body
 * of a POST; every reply is one `data: …` event. Later commands arrive through the emulation
 * endpoint for the session named in the connect result.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node } from '../core/index.js';
import type { EmulationSessions } from './emulation.js';
import { bodyFailed, preflight, readBody, respond, sseEvents } from './http-common.js';
import { openEmulationStream } from './http-stream.js';

export interface SseOptions {
  /** `sse.max_request_body_size` for POST connects (default 65536). */
  maxRequestBodySize?: number;
}

/** The query parameter that carries the connect data of GET requests. */
export const connectParam = 'cf_connect';

/** Serves `/connection/sse`. */
export class SseHandler {
  constructor(
    private readonly node: Node,
    private readonly sessions: EmulationSessions,
    private readonly opts: SseOptions = {},
  ) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'OPTIONS') {
      preflight(res, 'GET, POST, OPTIONS');
      return;
    }
    if (req.method === 'GET') {
      const connect = new URL(req.url ?? '/', 'http://localhost').searchParams.get(connectParam);
      if (connect === null || connect === '') {
        respond(res, 400, 'Bad Request\n');
        return;
      }
      this.open(req, res, Buffer.from(connect, 'utf8'));
      return;
    }
    if (req.method !== 'POST') {
      respond(res, 405);
      return;
    }
    void readBody(req, this.opts.maxRequestBodySize ?? 0).then((read) => {
      if (!read.ok) bodyFailed(res, read.reason);
      else this.open(req, res, read.body);
    });
  }

  private open(req: IncomingMessage, res: ServerResponse, frame: Uint8Array): void {
    openEmulationStream(this.node, this.sessions, { req, res, frame, protocol: 'json', format: sseEvents, name: 'sse' });
  }
}
