/**
 * Unidirectional HTTP-streaming at `/connection/uni_http_stream` (protocol.md §11.7), JSON
 * only. A POST carries the bare ConnectRequest as its body (`null` means `{}`); every push,
 * starting with `{"connect":…}`, is written as one JSON line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node } from '../core/index.js';
import { bodyFailed, jsonLines, preflight, readBody, respond } from './http-common.js';
import { parseConnectRequest, serveUniStream, type UniStreamOptions } from './uni-stream.js';

/** Serves `/connection/uni_http_stream`. */
export class UniHttpStreamHandler {
  constructor(
    private readonly node: Node,
    private readonly opts: UniStreamOptions = {},
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
    void readBody(req, this.opts.maxRequestBodySize ?? 0).then((read) => {
      if (!read.ok) {
        bodyFailed(res, read.reason);
        return;
      }
      const connect = parseConnectRequest(this.node, 'uni_http_stream', read.body);
      if (!connect) {
        respond(res, 400, 'Bad Request\n');
        return;
      }
      serveUniStream(this.node, this.opts, { req, res, connect, name: 'uni_http_stream', format: jsonLines }).catch((err: unknown) => {
        this.node.faults.log('error', { err }, 'uni_http_stream connection failed');
        res.destroy();
      });
    });
  }
}
