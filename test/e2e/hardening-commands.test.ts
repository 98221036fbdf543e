/**
 * A client that sends commands as fast as it can and never reads the replies: history and
 * presence requests on the Redis engine (each waits for a Redis round trip), from a
 * WebSocket whose reading side is paused. The server must hold it back (stop reading while
 * its commands drain) instead of queueing commands without bound, end it as a slow client
 * (3008) once its unread replies pass the queue bound, and keep serving others.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { RawClient } from '../helpers/raw-ws.js';
import { rssOf } from '../helpers/proc.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep } from '../helpers/wait.js';

const MiB = 1024 * 1024;

describe('a command flood from a client that does not read', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;

  before(async () => {
    gyre = await startGyre({
      log: { level: 'warn' },
      engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix: `flood-${randomUUID().slice(0, 8)}` } },
      client: { allow_anonymous_connect_without_token: true },
      http_api: { key: 'flood-key' },
      channel: {
        without_namespace: {
          allow_subscribe_for_anonymous: true,
          allow_history_for_anonymous: true,
          allow_history_for_client: true,
          allow_presence_for_anonymous: true,
          allow_presence_for_client: true,
          presence: true,
          history_size: 10,
          history_ttl: '60s',
        },
      },
    });
  });
  after(async () => {
    await gyre?.stop();
  });

  /** Opens a connected WebSocket; replies are counted, not kept. */
  async function flooder(): Promise<{ ws: WebSocket; socket: Socket; replies: () => number; closeCode: () => number | undefined }> {
    const ws = new WebSocket(gyre.wsUrl);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let code: number | undefined;
    let replies = 0;
    ws.on('close', (c) => (code = c));
    ws.on('error', () => undefined);
    const connected = new Promise((r) => ws.once('message', r));
    ws.send(JSON.stringify({ id: 1, connect: {} }));
    await connected;
    ws.on('message', (d: Buffer) => {
      for (let i = 0; i < d.length; i++) if (d[i] === 0x0a) replies++;
      replies++;
    });
    return { ws, socket: (ws as unknown as { _socket: Socket })._socket, replies: () => replies, closeCode: () => code };
  }

  /** Sends history and presence requests, one per frame, for `ms`; returns the peak server RSS growth. */
  async function flood(ws: WebSocket, ms: number): Promise<{ sent: number; growth: number }> {
    const before = rssOf(gyre.child.pid!);
    let peak = before;
    let sent = 0;
    const until = Date.now() + ms;
    while (Date.now() < until && ws.readyState === WebSocket.OPEN) {
      for (let k = 0; k < 200; k++) {
        const n = 2 + sent++;
        ws.send(JSON.stringify(n % 2 ? { id: n, history: { channel: 'hp', limit: 10 } } : { id: n, presence: { channel: 'hp' } }));
      }
      // The client's own send buffer fills once the server stops reading: wait then.
      while (ws.bufferedAmount > 4 * MiB && Date.now() < until) await sleep(20);
      await new Promise((r) => setImmediate(r));
      peak = Math.max(peak, rssOf(gyre.child.pid!));
    }
    return { sent, growth: peak - before };
  }

  it('a client that reads its replies but sends faster than its commands complete is held back', async () => {
    const c = await flooder();
    const { sent, growth } = await flood(c.ws, 3000);
    assert.ok(sent > 20_000, `the client got ${sent} commands out`);
    // Without backpressure the queued commands (and their promises) grow by hundreds of MiB.
    assert.ok(growth < 60 * MiB, `server RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
    assert.ok(c.ws.bufferedAmount > 0 || c.replies() > 0, 'the client was served');
    assert.equal(c.closeCode(), undefined, 'a client that reads is not disconnected');
    c.ws.terminate();
  });

  it('a client that does not read is closed as slow, with server memory bounded', async () => {
    // History replies of about 100 KiB each fill the kernel buffers and the writer's queue within
    // a fraction of a second even on a loaded machine, so the close frame is read well inside
    // the server's 5 s close wait once the client reads again.
    for (let i = 0; i < 10; i++) {
      const res = await fetch(gyre.apiUrl + '/publish', {
        method: 'POST',
        headers: { 'X-API-Key': 'flood-key' },
        body: JSON.stringify({ channel: 'hp', data: { text: 'x'.repeat(10_000) } }),
      });
      assert.equal(res.status, 200);
    }
    const c = await flooder();
    c.socket.pause();
    const { sent, growth } = await flood(c.ws, 1500);
    assert.ok(sent > 200, `the client got ${sent} commands out`);
    assert.ok(growth < 60 * MiB, `server RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
    // Read again: the replies that fit, then the close frame.
    c.socket.resume();
    const deadline = Date.now() + 10_000;
    while (c.closeCode() === undefined && Date.now() < deadline) await sleep(50);
    assert.equal(c.closeCode(), 3008, 'closed as a slow client');

    const other = await RawClient.open(gyre.wsUrl);
    const reply = await other.connect();
    assert.ok(reply.connect, 'another client is served');
    await other.close();
  });
});
