/**
 * A raw WebSocket client (the `ws` package) for protocol-level checks: send exact frames,
 * collect every incoming message, and observe the close code and reason. JSON frames are
 * split on "\n" and parsed; binary (Protobuf) frames are split by varint length.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { decode, splitFrame, type Fields } from './proto.js';

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface RawOptions {
  protocols?: string[];
  /** Maximum incoming message size accepted by this client (ws option). */
  maxPayload?: number;
  /** Extra headers on the upgrade request (cookies for the connect proxy). */
  headers?: Record<string, string>;
}

export class RawClient {
  /** Parsed JSON messages, in arrival order (one per line of each text frame). */
  readonly json: any[] = [];
  /** Decoded Protobuf replies, in arrival order (one per length-prefixed item). */
  readonly proto: Fields[] = [];
  /** Raw frames as received. */
  readonly frames: { data: Buffer; binary: boolean }[] = [];
  readonly closed: Promise<CloseInfo>;
  closeInfo: CloseInfo | undefined;
  /** The handshake response (for the selected subprotocol header). */
  upgrade: IncomingMessage | undefined;
  private nextId = 1;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise<CloseInfo>((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        this.notify();
        resolve(this.closeInfo);
      });
    });
    ws.on('upgrade', (res) => (this.upgrade = res));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      this.frames.push({ data: buf, binary: isBinary });
      if (isBinary) {
        for (const item of splitFrame(buf)) this.proto.push(decode(item));
      } else {
        for (const line of buf.toString('utf8').split('\n')) {
          if (line.trim() !== '') this.json.push(JSON.parse(line));
        }
      }
      this.notify();
    });
    ws.on('error', () => {
      // Errors are followed by 'close'; tests assert on the close info.
    });
  }

  /** Opens a connection and resolves once the handshake completed. */
  static open(url: string, opts: RawOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts.protocols ?? [], { maxPayload: opts.maxPayload ?? 64 * 1024 * 1024, headers: opts.headers });
      const client = new RawClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', (err) => reject(err));
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Allocates the next command id. */
  id(): number {
    return this.nextId++;
  }

  /** Sends text (a string) or binary (a Buffer) exactly as given. */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data, { binary: Buffer.isBuffer(data) });
  }

  /** Sends one or more JSON commands joined by "\n" in one frame. */
  send(...commands: unknown[]): void {
    this.sendRaw(commands.map((c) => JSON.stringify(c)).join('\n'));
  }

  /** Waits until `pick` returns a value (checked on every message and on close). */
  waitUntil<T>(pick: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const v = pick();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.closeInfo) {
          done();
          reject(new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got json=${JSON.stringify(this.json).slice(0, 2000)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The JSON reply with this id. */
  reply(id: number, timeoutMs = 5000): Promise<any> {
    return this.waitUntil(() => this.json.find((m) => m.id === id), `reply ${id}`, timeoutMs);
  }

  /** Sends one JSON command with a fresh id and waits for its reply. */
  async call(command: Record<string, unknown>, timeoutMs = 5000): Promise<any> {
    const id = this.id();
    this.send({ id, ...command });
    return this.reply(id, timeoutMs);
  }

  /** Sends connect (JSON) and returns the reply. */
  connect(req: Record<string, unknown> = {}): Promise<any> {
    return this.call({ connect: req });
  }

  /** The first JSON push matching `pred`. */
  push(pred: (push: any) => boolean, what = 'push', timeoutMs = 5000): Promise<any> {
    return this.waitUntil(() => this.json.find((m) => m.push && pred(m.push))?.push, what, timeoutMs);
  }

  /** Waits for the close frame; rejects if the connection stays open past the timeout. */
  waitClose(timeoutMs = 5000): Promise<CloseInfo> {
    return Promise.race([
      this.closed,
      new Promise<CloseInfo>((_, reject) => setTimeout(() => reject(new Error(`connection not closed within ${timeoutMs} ms`)), timeoutMs)),
    ]);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes from the client side (normal closure) and waits for the socket to end. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    const t = setTimeout(() => this.ws.terminate(), 1000);
    await this.closed;
    clearTimeout(t);
  }
}
