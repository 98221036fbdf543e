/**
 * Attacks on the HTTP server API of a real server process, over raw sockets, with the
 * keep-alive fast path on and off (GYRE_API_FAST_PATH=0: node:http serves every request):
 * bodies over the 10 MiB limit (declared and chunked) get a 413 the client can read, a
 * request without a key gets its 401 before sending its body, a head with bare LF line ends
 * gets its 400 at once, client-triggered failures are not logged at error level, and the
 * server keeps serving.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { apiCall, apiResult } from '../helpers/api.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep } from '../helpers/wait.js';

const API_KEY = 'hardening-key';
const LIMIT = 10 * 1024 * 1024;

interface Exchange {
  /** Everything the server sent. */
  text: string;
  /** The socket error the client saw (EPIPE, ECONNRESET), if any. */
  error: string | undefined;
  /** Whether the server ended (FIN) or closed the connection before `untilMs`. */
  closed: boolean;
  /** Milliseconds from connecting to the first byte of the answer; -1 without an answer. */
  firstByteMs: number;
}

/**
 * Connects, runs `send` (which writes the request), and collects the answer until the
 * server ends the connection or `untilMs` passes. The client keeps sending after the
 * server's FIN (allowHalfOpen), as clients that read only after sending do.
 */
async function exchange(port: number, send: (socket: net.Socket) => Promise<void> | void, untilMs: number): Promise<Exchange> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const started = Date.now();
  const out: Exchange = { text: '', error: undefined, closed: false, firstByteMs: -1 };
  socket.on('data', (d) => {
    if (out.firstByteMs < 0) out.firstByteMs = Date.now() - started;
    out.text += d.toString('latin1');
  });
  socket.on('error', (err: NodeJS.ErrnoException) => (out.error ??= err.code ?? err.message));
  const closed = new Promise<void>((resolve) => {
    socket.on('end', () => resolve());
    socket.on('close', () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await send(socket);
  const timer = sleep(untilMs - (Date.now() - started)).then(() => 'timeout' as const);
  out.closed = (await Promise.race([closed.then(() => 'closed' as const), timer])) === 'closed';
  socket.destroy();
  return out;
}

/** Writes and resolves once the data is handed to the kernel (or the socket failed). */
function write(socket: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.write(data, () => resolve());
  });
}

const status = (text: string): string => /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? `(no answer: ${JSON.stringify(text.slice(0, 80))})`;

for (const fastPath of [true, false]) {
  describe(`server API hardening, fast path ${fastPath ? 'on' : 'off'}`, { timeout: 60_000 }, () => {
    let gyre: GyreProcess;
    before(async () => {
      gyre = await startGyre({ http_api: { key: API_KEY } }, { env: fastPath ? {} : { GYRE_API_FAST_PATH: '0' } });
    });
    after(() => gyre.stop());

    it('answers a declared 11 MiB body with 413 that the client reads, not a reset', async () => {
      const body = Buffer.alloc(11 * 1024 * 1024, 0x61);
      // A few times: whether a reset overtakes the answer depends on timing.
      for (let i = 0; i < 3; i++) {
        const head = `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
        const r = await exchange(
          gyre.port,
          async (s) => {
            await write(s, head);
            await write(s, body);
            s.end();
          },
          10_000,
        );
        assert.equal(status(r.text), '413', `attempt ${i}`);
        assert.equal(r.error, undefined, `attempt ${i}: the client saw ${r.error} instead of a graceful close`);
        assert.match(r.text, /\r\nConnection: close\r\n/i);
        assert.ok(r.closed, 'the server closes the connection after the 413');
      }
    });

    it('answers a chunked body over the limit with 413', async () => {
      const piece = Buffer.alloc(1024 * 1024, 0x62);
      const chunk = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
      const r = await exchange(
        gyre.port,
        async (s) => {
          await write(s, `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${API_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n`);
          // 16 MiB in 1 MiB chunks, all of them, as a client that reads only after sending does.
          for (let sent = 0; sent < LIMIT + 6 * piece.length && !s.destroyed; sent += piece.length) await write(s, chunk);
          await write(s, '0\r\n\r\n');
          s.end();
        },
        10_000,
      );
      assert.equal(status(r.text), '413');
      assert.equal(r.error, undefined, `the client saw ${r.error} instead of a graceful close`);
      assert.ok(r.closed, 'the server closes the connection after the 413');
    });

    it('answers 401 to a request without a key that declares a 9 MB body, before the body is sent', async () => {
      const r = await exchange(gyre.port, (s) => write(s, 'POST /api/publish HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 9000000\r\n\r\n'), 5000);
      assert.equal(status(r.text), '401');
      // A bound, not a speed measurement: before the fix no answer came until the body had.
      assert.ok(r.firstByteMs >= 0 && r.firstByteMs < 2000, `401 after ${r.firstByteMs} ms`);
      assert.ok(r.closed, 'the unread body is not waited for: the connection closes');
    });

    it('answers a head with bare LF line ends with 400 at once', async () => {
      const r = await exchange(gyre.port, (s) => write(s, `POST /api/publish HTTP/1.1\nHost: t\nX-API-Key: ${API_KEY}\nContent-Length: 2\n\n{}`), 5000);
      assert.equal(status(r.text), '400');
      // A bound, not a speed measurement: the fast path used to hold such a head for 5 s.
      assert.ok(r.firstByteMs >= 0 && r.firstByteMs < 2000, `400 after ${r.firstByteMs} ms`);
      assert.ok(r.closed);
    });

    it('answers deeply nested data with 400 and an aborted request quietly: no error-level log lines', async () => {
      const deep = `{"channel":"deep","data":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
      const res = await apiCall(gyre.apiUrl, API_KEY, 'publish', deep);
      assert.equal(res.status, 400);
      for (let i = 0; i < 5; i++) {
        // Authenticated, declares 1000 bytes, sends 10, then goes away.
        await exchange(
          gyre.port,
          async (s) => {
            await write(s, `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${API_KEY}\r\nContent-Length: 1000\r\n\r\n{"channel"`);
            await sleep(20);
            s.destroy();
          },
          200,
        );
      }
      await sleep(300);
      const errors = gyre
        .output()
        .split('\n')
        .filter((line) => line.includes('"level":"error"'));
      assert.deepEqual(errors, []);
    });

    it('keeps serving: a normal publish and info work after all that', async () => {
      assert.deepEqual(await apiResult(gyre.apiUrl, API_KEY, 'publish', { channel: 'after', data: { ok: true } }), {});
      const info = await apiResult(gyre.apiUrl, API_KEY, 'info', {});
      assert.equal(info.nodes.length, 1);
      assert.equal(gyre.exitCode(), null);
    });
  });
}
