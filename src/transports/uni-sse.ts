/**
 * Unidirectional SSE at `/connection/uni_sse` (protocol.md §11.6), JSON only. The bare
 * ConnectRequest comes from the optional `cf_connect` query parameter of a GET (absent means
 * `{}`) or the body of a POST; every push, starting with `{"connect":…}`, is one `data: …` event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectRequest } from '../protocol/types.js';
import type { Node } from '../core/index.js';
import { bodyFailed, preflight, readBody, respond, sseEvents } from './http-common.js';
import { parseConnectRequest, serveUniStream, type UniStreamOptions } from './uni-stream.js';
import { connectParam } from './sse.js';

/** Serves `/connection/uni_sse`. */
export class UniSseHandler {
  constructor(
    private readonly node: Node,
    private readonly opts: UniStreamOptions = {},
  ) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'OPTIONS') {
      preflight(res, 'GET, POST, OPTIONS');
      return;
    }
    if (req.method === 'GET') {
      const param = new URL(req.url ?? '/', 'http://localhost').searchParams.get(connectParam);
      const connect = param === null || param === '' ? {} : parseConnectRequest(this.node, 'uni_sse', Buffer.from(param, 'utf8'));
      this.serve(req, res, connect);
      return;
    }
    if (req.method !== 'POST') {
      respond(res, 405);
      return;
    }
    void readBody(req, this.opts.maxRequestBodySize ?? 0).then((read) => {
      if (!read.ok) bodyFailed(res, read.reason);
      else this.serve(req, res, parseConnectRequest(this.node, 'uni_sse', read.body));
    });
  }

  private serve(req: IncomingMessage, res: ServerResponse, connect: ConnectRequest | undefined): void {
    if (!connect) {
      respond(res, 400, 'Bad Request\n');
      return;
    }
    serveUniStream(this.node, this.opts, { req, res, connect, name: 'uni_sse', format: sseEvents }).catch((err: unknown) => {
      this.node.faults.log('error', { err }, 'uni_sse connection failed');
      res.destroy();
    });
  }
}
