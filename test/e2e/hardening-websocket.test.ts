/**
 * Attacks on Gyre's own WebSocket reader from raw TCP sockets against a real server process:
 * a client that floods ping frames and never reads its pongs, and a client that keeps one
 * message unfinished with hundreds of thousands of empty continuation frames. The server's
 * memory (VmRSS from /proc) must stay bounded, the attacker must be closed with the
 * documented code (3008 slow, 1008 too many fragments), the reason logged once per burst,
 * and other clients served as before.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RawClient } from '../helpers/raw-ws.js';
import { rssOf } from '../helpers/proc.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { clientFrame, wsUpgrade } from '../helpers/ws-frame.js';

const MiB = 1024 * 1024;
/** Allowed RSS growth of the server during one attack. */
const RSS_BOUND = 50 * MiB;

/** The same mask key for every frame: the server only has to unmask. */
const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);
const frame = (opcode: number, payload: Buffer, fin = true): Buffer => clientFrame(opcode, payload, { fin, mask: MASK });

/**
 * A WebSocket client on a bare TCP socket that counts the server's frames instead of
 * keeping them (an attack may bring megabytes of pongs), and remembers the close frame.
 */
class AttackClient {
  pongs = 0;
  texts: string[] = [];
  closeCode: number | undefined;
  ended = false;
  private buf: Buffer = Buffer.alloc(0);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('error', () => undefined);
    socket.once('close', () => (this.ended = true));
  }

  static async open(port: number): Promise<AttackClient> {
    const r = await wsUpgrade(port);
    if (r.status !== 101) {
      r.socket.destroy();
      throw new Error(`handshake failed: status ${r.status}`);
    }
    const c = new AttackClient(r.socket);
    if (r.rest.length > 0) c.read(r.rest);
    return c;
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    for (;;) {
      const b = this.buf;
      if (b.length - off < 2) break;
      let len = b[off + 1]! & 0x7f;
      let header = 2;
      if (len === 126) {
        if (b.length - off < 4) break;
        len = b.readUInt16BE(off + 2);
        header = 4;
      } else if (len === 127) {
        if (b.length - off < 10) break;
        len = Number(b.readBigUInt64BE(off + 2));
        header = 10;
      }
      if (b.length - off < header + len) break;
      const opcode = b[off]! & 0x0f;
      const payload = b.subarray(off + header, off + header + len);
      if (opcode === 0xa) this.pongs++;
      else if (opcode === 0x1 && this.texts.length < 100) this.texts.push(payload.toString('utf8'));
      else if (opcode === 0x8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      off += header + len;
    }
    this.buf = this.buf.subarray(off);
  }

  /**
   * Writes `chunk` over and over for `ms`, waiting for drain so that the client itself
   * stays small. Stops early when the server closes, after `maxChunks`, or when the server
   * stops reading (no drain for `stallMs`). Returns how many chunks went out.
   */
  async flood(chunk: Buffer, o: { ms: number; maxChunks?: number; stallMs?: number }): Promise<number> {
    const deadline = Date.now() + o.ms;
    let sent = 0;
    while (Date.now() < deadline && sent < (o.maxChunks ?? Infinity) && !this.ended && this.closeCode === undefined) {
      sent++;
      if (this.socket.write(chunk)) continue;
      let drained = false;
      const onDrain = (): void => {
        drained = true;
      };
      this.socket.once('drain', onDrain);
      const stallEnd = Date.now() + (o.stallMs ?? Infinity);
      while (!drained && !this.ended && Date.now() < deadline && Date.now() < stallEnd) await sleep(10);
      this.socket.off('drain', onDrain);
      if (!drained) break;
    }
    return sent;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Samples the server's RSS every 25 ms while `work` runs; returns the largest growth over `before`. */
async function peakGrowth(pid: number, work: () => Promise<unknown>): Promise<{ before: number; peak: number }> {
  const before = rssOf(pid);
  let peak = before;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, rssOf(pid));
      await sleep(25);
    }
  })();
  try {
    await work();
    await sleep(100);
  } finally {
    running = false;
    await sampler;
  }
  peak = Math.max(peak, rssOf(pid));
  return { before, peak };
}

function limitLines(gyre: GyreProcess, reason: string): string[] {
  return gyre
    .output()
    .split('\n')
    .filter((l) => l.includes('websocket limit exceeded') && l.includes(reason));
}

describe('WebSocket reader under attack', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let pid: number;

  before(async () => {
    gyre = await startGyre({ client: { insecure: true } });
    pid = gyre.child.pid!;
    // Warm up: the first connections load code the attacks should not be charged for.
    const c = await RawClient.open(gyre.wsUrl);
    await c.connect();
    await c.close();
  });

  after(async () => {
    await gyre.stop();
  });

  async function assertServed(): Promise<void> {
    const c = await RawClient.open(gyre.wsUrl);
    const rep = await c.connect();
    assert.ok(rep.connect?.client, `another client connects: ${JSON.stringify(rep)}`);
    await c.close();
  }

  it('a client flooding pings without reading is closed as slow (3008) and memory stays bounded', async () => {
    const c = await AttackClient.open(gyre.port);
    c.socket.write(frame(0x1, Buffer.from('{"id":1,"connect":{}}')));
    await waitFor(() => c.texts.length > 0, 'connect reply');
    assert.match(c.texts[0]!, /"client"/);
    // Stop reading: the pongs fill the kernel's buffers (megabytes on loopback, hence the
    // largest pings), then wait in the server's. Flood until the server stops reading or 3 s.
    c.socket.pause();
    const pings = Buffer.concat(Array.from({ length: 500 }, (_, i) => frame(0x9, Buffer.alloc(125, i))));
    let chunks = 0;
    const { before, peak } = await peakGrowth(pid, async () => {
      chunks = await c.flood(pings, { ms: 3000, stallMs: 300 });
    });
    assert.ok(chunks > 10, `the flood went out (${chunks} chunks of 500 pings)`);
    assert.ok(peak - before < RSS_BOUND, `server RSS grew by ${((peak - before) / MiB).toFixed(1)} MiB (from ${(before / MiB).toFixed(1)} MiB)`);
    // Reading again: a bounded number of pongs, then the close frame.
    c.socket.resume();
    await waitFor(() => c.closeCode !== undefined, 'close frame after the pongs', 5000);
    assert.equal(c.closeCode, 3008);
    assert.ok(c.pongs < 5_000_000, `pongs are bounded (${c.pongs})`);
    c.close();
    assert.equal(limitLines(gyre, 'too many pending pongs').length, 1, 'the reason is logged once');
    await assertServed();
  });

  it('an unfinished message of hundreds of thousands of empty continuations is closed with 1008', async () => {
    const empties = Buffer.concat(Array.from({ length: 10_000 }, () => frame(0x0, Buffer.alloc(0), false)));
    const closes: (number | undefined)[] = [];
    const { before, peak } = await peakGrowth(pid, async () => {
      // Two attackers in a row: both closed, the reason logged once for the burst.
      for (let i = 0; i < 2; i++) {
        const c = await AttackClient.open(gyre.port);
        c.socket.write(frame(0x1, Buffer.from('{"id":1,'), false));
        // Up to 600,000 empty continuations (3.6 MB) for up to 3 s, unless the server closes first.
        await c.flood(empties, { ms: 3000, maxChunks: 60 });
        await waitFor(() => c.closeCode !== undefined || c.ended, 'close frame', 5000).catch(() => undefined);
        closes.push(c.closeCode);
        c.close();
      }
    });
    assert.deepEqual(closes, [1008, 1008]);
    assert.ok(peak - before < RSS_BOUND, `server RSS grew by ${((peak - before) / MiB).toFixed(1)} MiB (from ${(before / MiB).toFixed(1)} MiB)`);
    assert.equal(limitLines(gyre, 'too many message fragments').length, 1, 'the reason is logged once per burst');
    await assertServed();
  });
});
