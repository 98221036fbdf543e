/**
 * Graceful shutdown of a real gyre process (server.md §7.6): on SIGTERM or SIGINT, SDK clients
 * over WebSocket and SSE get 3001 "shutdown" (so they reconnect elsewhere), new connections are
 * refused, and the process exits 0 quickly; a shutdown that outlives `shutdown.timeout` ends
 * with exit 1 and "shutdown timeout reached".
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { ReadableStream } from 'node:stream/web';
import { describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { startGyre } from '../helpers/server-process.js';
import { FetchEventSource } from '../helpers/streams.js';
import { waitEvent, waitFor } from '../helpers/wait.js';

function sdkClient(base: string, transport: 'websocket' | 'sse'): Centrifuge {
  const endpoint = transport === 'websocket' ? `${base.replace('http', 'ws')}/connection/websocket` : `${base}/connection/sse`;
  const c = new Centrifuge([{ transport, endpoint }], {
    websocket: WebSocket,
    fetch: globalThis.fetch,
    readableStream: ReadableStream,
    eventsource: FetchEventSource,
    emulationEndpoint: `${base}/emulation`,
    minReconnectDelay: 5000,
    maxReconnectDelay: 5000,
  } as any);
  c.on('error', () => undefined);
  return c;
}

describe('graceful shutdown', { timeout: 40_000 }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: WebSocket and SSE clients get 3001 and the process exits 0 quickly`, async () => {
      const gyre = await startGyre({ client: { insecure: true }, sse: { enabled: true }, http_api: { insecure: true }, prometheus: { enabled: true }, admin: { enabled: true, insecure: true } });
      const clients = [sdkClient(gyre.base, 'websocket'), sdkClient(gyre.base, 'websocket'), sdkClient(gyre.base, 'sse')];
      try {
        await Promise.all(
          clients.map((c) => {
            const ready = waitEvent(c, 'connected');
            c.connect();
            return ready;
          }),
        );
        const down = clients.map((c) => waitEvent(c, 'connecting', { timeoutMs: 5000 }));
        const started = Date.now();
        gyre.child.kill(signal);
        const ctxs = await Promise.all(down);
        for (const ctx of ctxs) assert.deepEqual([ctx.code, ctx.reason], [3001, 'shutdown']);
        // Wait for the exit itself: stop() would send a second signal.
        await waitFor(() => gyre.exitCode() !== null, 'process exit', 3000);
        assert.equal(gyre.exitCode(), 0, gyre.output());
        assert.equal(await gyre.stop(), 0);
        assert.ok(Date.now() - started < 3000, `exited in ${Date.now() - started} ms`);
        assert.match(gyre.output(), /shutting down/);
        assert.match(gyre.output(), /shutdown completed/);
        // Nothing listens any more: new connections are refused.
        await assert.rejects(fetch(`${gyre.base}/connection/sse`));
      } finally {
        for (const c of clients) c.disconnect();
      }
    });
  }

  it('exits 1 with "shutdown timeout reached" when shutdown outlives shutdown.timeout', async () => {
    const gyre = await startGyre({ http_api: { insecure: true }, shutdown: { timeout: '200ms' } });
    // An API request whose body never finishes keeps its HTTP server from closing for a second.
    const sock = net.connect({ host: '127.0.0.1', port: gyre.port });
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write('POST /api/info HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    gyre.child.kill('SIGTERM');
    await waitFor(() => gyre.exitCode() !== null, 'process exit', 3000);
    sock.destroy();
    assert.equal(gyre.exitCode(), 1);
    await gyre.stop();
    assert.match(gyre.output(), /shutdown timeout reached/);
    assert.ok(Date.now() - started < 900, `hard exit after ${Date.now() - started} ms`);
  });
});
