/**
 * WebSocket at the byte level for tests that speak it over a bare TCP socket: the opening
 * handshake and hand-made client frames, so a test controls every byte the server reads.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

/** RFC 6455: the Sec-WebSocket-Accept value is the SHA-1 of the key and this GUID. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface ClientFrameOptions {
  /** Final fragment (default true). */
  fin?: boolean;
  /** Masked, as a client must (default true). */
  masked?: boolean;
  /** The mask key (default a fresh random one per frame). */
  mask?: Buffer;
}

/** One client frame with `payload`, in the shortest length form. */
export function clientFrame(opcode: number, payload: Buffer | string, o: ClientFrameOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const masked = o.masked ?? true;
  const len = data.length;
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | opcode];
  const bit = masked ? 0x80 : 0;
  if (len < 126) head.push(bit | len);
  else if (len < 65536) head.push(bit | 126, len >> 8, len & 0xff);
  else head.push(bit | 127, 0, 0, 0, 0, len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  if (!masked) return Buffer.concat([Buffer.from(head), data]);
  const mask = o.mask ?? randomBytes(4);
  return Buffer.concat([Buffer.from(head), mask, Buffer.from(data.map((b, i) => b ^ mask[i & 3]!))]);
}

export interface UpgradeOptions {
  /** Default /connection/websocket. */
  path?: string;
  /** Overrides of the default handshake headers; undefined leaves a header out. */
  headers?: Record<string, string | undefined>;
  /** Default GET. */
  method?: string;
}

export interface UpgradeResponse {
  socket: net.Socket;
  status: number;
  /** Response headers, names in lower case. */
  headers: Record<string, string>;
  /** Bytes that arrived after the response head (the first server frames, if any). */
  rest: Buffer;
}

/**
 * Connects to 127.0.0.1:`port`, sends a handshake and reads the HTTP response head. Rejects
 * if the socket fails, or if the server switches protocols with a wrong Sec-WebSocket-Accept;
 * any other status resolves, for tests of refused handshakes. The caller takes over the
 * socket's 'data' events from `rest` on.
 */
export function wsUpgrade(port: number, opts: UpgradeOptions = {}): Promise<UpgradeResponse> {
  const key = randomBytes(16).toString('base64');
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...opts.headers,
  };
  let request = `${opts.method ?? 'GET'} ${opts.path ?? '/connection/websocket'} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) request += `${k}: ${v}\r\n`;
  request += '\r\n';
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const lines = got.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const hs: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      if (status === 101) {
        const expected = createHash('sha1').update(key + GUID).digest('base64');
        if (hs['sec-websocket-accept'] !== expected) {
          socket.destroy();
          return reject(new Error(`bad Sec-WebSocket-Accept ${hs['sec-websocket-accept']}`));
        }
      }
      resolve({ socket, status, headers: hs, rest: got.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('connect', () => socket.write(request));
  });
}
