/**
 * One listening port of Gyre's HTTP surface, in one of three modes: plain HTTP/1.1 (a bare
 * node:http server), cleartext HTTP/2 beside HTTP/1.1 (`h2c_external`: a connection opening
 * with the HTTP/2 preface goes to the HTTP/2 server, any other to node:http), or TLS (ALPN
 * picks `h2` or `http/1.1`; WebSocket upgrades keep working over HTTP/1.1). Requests of both
 * protocols reach the same handler through node's compatibility API.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { pem } from '../brokers/tls.js';
import type { Logger } from '../core/index.js';

/** The [TLS] block of a listener as the configuration gives it. */
export interface ListenerTlsBlock {
  enabled?: boolean;
  cert_pem?: string;
  key_pem?: string;
  client_ca_pem?: string;
}

/** How a TLS listener finds its certificates. */
export interface ListenerTls {
  /** Options of the default secure context (certificate, key, client CA for mTLS). */
  options: tls.SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean };
  /**
   * Per-SNI context (ACME): called for every handshake that names a server, with `acmeAlpn`
   * true when the client asked for the `acme-tls/1` protocol (a TLS-ALPN-01 validation).
   */
  sni?: (servername: string, acmeAlpn: boolean) => Promise<tls.SecureContext>;
  /** Handshake time limit (ms): longer when a handshake may wait for an ACME issuance. */
  handshakeTimeoutMs?: number;
}

/**
 * Listener TLS options of a [TLS] block: its certificate and key, and with `client_ca_pem`
 * client certificates required and verified against that bundle (mTLS). Throws, naming
 * `path`, when the block lacks a certificate or key or a PEM value cannot be read.
 */
export function listenerTls(block: ListenerTlsBlock, path: string): ListenerTls {
  let cert: string | undefined;
  let key: string | undefined;
  let ca: string | undefined;
  try {
    cert = pem(block.cert_pem);
    key = pem(block.key_pem);
    ca = pem(block.client_ca_pem);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  if (!cert || !key) throw new Error(`${path}: cert_pem and key_pem are required for a TLS listener`);
  const options: ListenerTls['options'] = { cert, key, minVersion: 'TLSv1.2' };
  if (ca) Object.assign(options, { ca, requestCert: true, rejectUnauthorized: true });
  return { options };
}

export interface HttpListenerOptions {
  /** `plain`, `h2c` (cleartext HTTP/2 with prior knowledge beside HTTP/1.1) or `tls`. */
  mode: 'plain' | 'h2c' | 'tls';
  tls?: ListenerTls;
  http1Options: http.ServerOptions;
  onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  /** WebSocket upgrades; without it node:http drops upgrade requests. */
  onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  logger: Logger;
}

/** The HTTP/2 connection preface a prior-knowledge h2c client opens with. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** A cleartext connection must show its first bytes within this long (the headers timeout). */
const SNIFF_TIMEOUT_MS = 10_000;
const kAcmeAlpn = Symbol('gyre.acmeAlpn');
/** An HTTP/2 session with no frames for this long is closed gracefully. */
const H2_IDLE_MS = 120_000;

type MarkedSocket = tls.TLSSocket & { [kAcmeAlpn]?: boolean };

/**
 * A listening port. `http1` is the node:http server that owns HTTP/1.1 connections (in the
 * plain mode it is the listening server itself); HTTP/2 sessions are tracked so close() can
 * end them.
 */
export class HttpListener {
  readonly http1: http.Server;
  private readonly h2: http2.Http2Server | undefined;
  private readonly front: net.Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Every accepted TCP connection of a TLS or h2c listener, whatever owns it now. */
  private readonly raw = new Set<Socket>();

  constructor(private readonly opts: HttpListenerOptions) {
    this.http1 = http.createServer(opts.http1Options, opts.onRequest);
    if (opts.onUpgrade) this.http1.on('upgrade', opts.onUpgrade);
    if (opts.mode === 'plain') {
      this.front = this.http1;
      return;
    }
    // node:http tracks its connections (timeouts, closeIdleConnections) once it has "listened".
    this.http1.emit('listening');
    const h2 = http2.createServer();
    h2.on('request', (req, res) => opts.onRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse));
    h2.on('session', (s: http2.ServerHttp2Session) => {
      this.sessions.add(s);
      s.once('close', () => this.sessions.delete(s));
      s.on('error', (err) => opts.logger.debug({ err: err.message }, 'HTTP/2 session error'));
      // An idle session is asked to go (GOAWAY); streaming connections ping well within this.
      s.setTimeout(H2_IDLE_MS, () => s.close());
    });
    this.h2 = h2;
    this.front = opts.mode === 'tls' ? this.tlsFront(opts.tls) : net.createServer((socket) => this.sniff(socket));
    this.front.on('connection', (socket: Socket) => {
      this.raw.add(socket);
      socket.once('close', () => this.raw.delete(socket));
    });
  }

  private tlsFront(t: ListenerTls | undefined): tls.Server {
    if (!t) throw new Error('a TLS listener needs TLS options');
    const sni = t.sni;
    const server = tls.createServer({
      ...t.options,
      handshakeTimeout: t.handshakeTimeoutMs ?? 10_000,
      // `this` is the connection's TLSSocket: the protocol choice comes before the SNI callback.
      ALPNCallback(this: MarkedSocket, { protocols }: { servername: string; protocols: string[] }): string | undefined {
        if (sni && protocols.includes('acme-tls/1')) {
          this[kAcmeAlpn] = true;
          return 'acme-tls/1';
        }
        if (protocols.includes('h2')) return 'h2';
        return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
      },
      SNICallback: sni
        ? function (this: MarkedSocket, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void {
            sni(servername, this?.[kAcmeAlpn] === true).then(
              (ctx) => cb(null, ctx),
              (err: Error) => cb(err),
            );
          }
        : undefined,
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'acme-tls/1') socket.end();
      else if (socket.alpnProtocol === 'h2') this.h2?.emit('connection', socket);
      else this.http1.emit('connection', socket);
    });
    server.on('tlsClientError', (err) => this.opts.logger.debug({ err: err.message }, 'TLS handshake failed'));
    return server;
  }

  /** Reads a cleartext connection's first bytes: the HTTP/2 preface goes to the HTTP/2 server, anything else to node:http. */
  private sniff(socket: Socket): void {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onGone);
      socket.off('close', onGone);
    };
    const onGone = (): void => {
      finish();
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const n = Math.min(buf.length, H2_PREFACE.length);
      const h2 = buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (h2 && buf.length < H2_PREFACE.length) return;
      finish();
      if (h2) {
        // The HTTP/2 session reads what is buffered on the socket when it starts.
        socket.pause();
        socket.unshift(buf);
        this.h2?.emit('connection', socket);
      } else {
        this.http1.emit('connection', socket);
        // In this tick, so node:http's parser sees these bytes before any newer ones.
        if (!socket.destroyed) socket.emit('data', buf);
      }
    };
    socket.on('data', onData);
    socket.on('error', onGone);
    socket.on('close', onGone);
  }

  /** Binds host:port; resolves to the bound port. */
  listen(host: string, port: number, backlog: number): Promise<number> {
    const server = this.front;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: host || undefined, port, backlog }, () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Replaces the default secure context (the certificate for handshakes without SNI). */
  setDefaultContext(options: tls.SecureContextOptions): void {
    if (this.front instanceof tls.Server) this.front.setSecureContext(options);
  }

  /**
   * Stops accepting connections and asks HTTP/2 clients to go (GOAWAY; streams in flight
   * finish). Resolves once every connection has ended.
   */
  stopAccepting(): Promise<void> {
    const done = new Promise<void>((resolve) => this.front.close(() => resolve()));
    if (this.front !== this.http1) {
      this.http1.close();
      for (const s of this.sessions) s.close();
    }
    return done;
  }

  /** Closes idle HTTP/1.1 connections now and every remaining connection after `graceMs`. */
  drain(graceMs: number): void {
    this.http1.closeIdleConnections();
    setTimeout(() => {
      this.http1.closeAllConnections();
      for (const s of this.sessions) s.destroy();
      for (const s of this.raw) s.destroy();
    }, graceMs).unref();
  }
}
