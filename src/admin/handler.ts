/**
 * The admin endpoints under `admin.handler_prefix` (server.md §7.4): `/admin/init`,
 * `/admin/auth` (password → token), `/admin/api` (the legacy server API pipeline, run by the
 * same ApiExecutor as the HTTP API), `/admin/tail` (live channel tail, see tail.ts) and the
 * web UI at `/` and below.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseLegacyCommands, runLegacyCommands, type ApiExecutor } from '../api/index.js';
import { LoginLimiter } from './login-limiter.js';
import { ChannelTails, type TailSource } from './tail.js';
import { bundledWebDir, reverseProxy, serveDirectory, type UiServer } from './static.js';
import { issueAdminToken, tokenFromAuthorization, verifyAdminToken } from './token.js';

/** The `admin` config section. */
export interface AdminOptions {
  handler_prefix?: string;
  password?: string;
  secret?: string;
  insecure?: boolean;
  web_path?: string;
  web_proxy_address?: string;
}

interface AdminLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;

const AUTH_BODY_LIMIT = 1024 * 1024;
const API_BODY_LIMIT = 10 * 1024 * 1024;

/** Admin routes of one server; close() ends live tails. */
export class AdminHandler {
  readonly route: Route;
  private readonly tails: ChannelTails;
  /** Wrong passwords per client address: 5 a minute, then 429 until the minute ends. */
  private readonly logins: LoginLimiter;

  constructor(
    private readonly opts: AdminOptions,
    private readonly executor: ApiExecutor,
    node: TailSource,
    private readonly logger: AdminLogger,
    limiter: LoginLimiter = new LoginLimiter(),
  ) {
    this.tails = new ChannelTails(node);
    this.logins = limiter;
    const prefix = (opts.handler_prefix ?? '').replace(/\/+$/, '');
    const ui: UiServer = opts.web_proxy_address
      ? reverseProxy(opts.web_proxy_address)
      : serveDirectory(opts.web_path || bundledWebDir, !opts.web_path);
    this.route = (req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (prefix !== '' && path !== prefix && !path.startsWith(prefix + '/')) return false;
      const rel = path.slice(prefix.length) || '/';
      switch (rel) {
        case '/admin/init':
          this.init(req, res);
          return true;
        case '/admin/auth':
          void this.auth(req, res).catch((err: unknown) => this.fail(res, err));
          return true;
        case '/admin/api':
          void this.api(req, res).catch((err: unknown) => this.fail(res, err));
          return true;
        case '/admin/tail':
          if (this.authorized(req, res)) this.tails.handle(req, res, new URLSearchParams(q < 0 ? '' : url.slice(q + 1)).get('channel') ?? '');
          return true;
      }
      // With an empty prefix the UI owns only GET/HEAD requests nobody else claimed.
      if (prefix === '' && req.method !== 'GET' && req.method !== 'HEAD') return false;
      ui(req, res, rel);
      return true;
    };
  }

  /** Ends open tails; call before the HTTP servers close. */
  close(): void {
    this.tails.close();
  }

  private validToken(req: IncomingMessage): boolean {
    const token = tokenFromAuthorization(req.headers.authorization);
    return token !== undefined && verifyAdminToken(this.opts.secret ?? '', token);
  }

  /** Insecure mode, or a valid token; otherwise answers 401 and returns false. */
  private authorized(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.opts.insecure) return true;
    if (!this.opts.secret) {
      this.logger.error({}, 'no admin secret key found in configuration');
    } else if (this.validToken(req)) {
      return true;
    }
    res.writeHead(401, { 'content-length': '0' }).end();
    return false;
  }

  private init(req: IncomingMessage, res: ServerResponse): void {
    const authenticated = !!this.opts.insecure || (!!this.opts.secret && this.validToken(req));
    sendJson(res, 200, JSON.stringify({ insecure: !!this.opts.insecure, edition: 'oss', authenticated }));
  }

  private async auth(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const remote = req.socket.remoteAddress ?? '';
    // Checked before the body is read or the password compared, so a refused address costs nothing.
    const wait = this.logins.retryAfterSeconds(remote);
    if (wait > 0) {
      const body = 'Too Many Requests\n';
      res.writeHead(429, { 'retry-after': String(wait), connection: 'close', 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      return void res.end(body);
    }
    const body = await readBody(req, AUTH_BODY_LIMIT);
    if (body === undefined) return sendText(res, 413, 'Request Entity Too Large');
    const { password = '', secret = '' } = this.opts;
    if (password === '' || secret === '') {
      this.logger.error({}, 'admin password and admin secret must be set in configuration');
      return sendText(res, 400, 'Bad Request');
    }
    if (!sameSecret(formPassword(req, body), password)) {
      // At most maxFailures lines per address and window: the limit also bounds this log.
      if (this.logins.failed(remote)) this.logger.warn({ remote }, 'admin login: too many wrong passwords, address refused for a while');
      else this.logger.info({ remote }, 'admin login with wrong password');
      return sendText(res, 400, 'Bad Request');
    }
    this.logins.succeeded(remote);
    sendJson(res, 200, JSON.stringify({ token: issueAdminToken(secret) }));
  }

  private async api(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    if (!this.authorized(req, res)) return;
    const body = await readBody(req, API_BODY_LIMIT);
    if (body === undefined) return sendText(res, 413, 'Request Entity Too Large');
    let commands;
    try {
      commands = parseLegacyCommands(body.toString('utf8'));
    } catch {
      return sendText(res, 400, 'Bad Request');
    }
    if (commands.length === 0) return sendText(res, 400, 'Bad Request');
    sendJson(res, 200, await runLegacyCommands(this.executor, commands));
  }

  private fail(res: ServerResponse, err: unknown): void {
    this.logger.error({ err }, 'admin request failed');
    if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
    else res.destroy();
  }
}

/** The `password` field of a urlencoded form, a JSON object or a multipart-free body. */
function formPassword(req: IncomingMessage, body: Buffer): string {
  const type = String(req.headers['content-type'] ?? '');
  const text = body.toString('utf8');
  if (type.includes('application/json')) {
    try {
      const v = (JSON.parse(text) as { password?: unknown }).password;
      return typeof v === 'string' ? v : '';
    } catch {
      return '';
    }
  }
  return new URLSearchParams(text).get('password') ?? '';
}

/** Constant-time comparison of equal-length digests. */
function sameSecret(a: string, b: string): boolean {
  const d = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

/** The whole body, or undefined past `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max) chunks.push(c);
    });
    req.once('end', () => resolve(size > max ? undefined : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
}
