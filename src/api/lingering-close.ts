/**
 * Closing a connection after an answer sent before the request body was read (401, 413).
 * Closing at once would make the kernel answer the body bytes still arriving with a TCP
 * reset, and a client that is still sending may then lose the answer it has not read yet.
 * So the answer is sent, the write side half-closed, and what the client still sends is
 * read and dropped for a bounded while before the socket is destroyed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection closed after an early answer keeps draining the client's bytes (ms). */
export const LINGER_MS = 2000;

/** How many bytes such a connection drops before it is destroyed anyway (where they are counted). */
export const LINGER_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The largest declared body skipped on a kept-alive connection after an answer that did not
 * need the body (401); a larger or undeclared (chunked) body closes the connection instead.
 */
export const EARLY_ANSWER_SKIP_MAX_BYTES = 64 * 1024;

/**
 * Half-closes the socket after what is queued on it and destroys it once the client closes
 * too or after `ms`. One timer per lingering socket: only rejected requests get here.
 */
export function lingeringClose(socket: Socket, ms = LINGER_MS): void {
  if (socket.destroyed) return;
  socket.end();
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

type SoonDestroyable = Socket & { destroySoon?: () => void };

/**
 * Makes node:http close this request's connection after the response with a lingering close
 * (over HTTP/2, ends only the request's stream).
 * node:http ends a connection after its last response with `socket.destroySoon()`, which
 * destroys the socket as soon as the response is written; this replaces it, on this socket
 * only, with lingeringClose (node:http falls back to `socket.end()` for sockets without it).
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  if (req.httpVersionMajor >= 2) {
    // HTTP/2: the connection carries other streams; this stream is reset (NO_ERROR) once the
    // answer is out, which tells the client to stop sending its body (RFC 9113 §8.1).
    const stream = (req as unknown as { stream?: { close(code?: number): void } }).stream;
    res.once('finish', () => stream?.close(0));
    return;
  }
  res.setHeader('Connection', 'close');
  const socket = req.socket as SoonDestroyable;
  socket.destroySoon = function (this: Socket) {
    lingeringClose(this);
  };
}
