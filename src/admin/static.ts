/**
 * Serving the admin web UI: the bundle built into dist/web, a directory given by
 * `admin.web_path`, or a reverse proxy to a development server (`admin.web_proxy_address`).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the UI (this file compiles to dist/src/admin/). */
export const bundledWebDir = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Answers a UI request for `rel` (the path below the admin prefix, starting with `/`). */
export type UiServer = (req: IncomingMessage, res: ServerResponse, rel: string) => void;

/**
 * Files under `dir`; `/` is index.html (the UI routes with the URL hash, so no fallback). With `cache`, file bodies
 * are kept in memory after the first read (the bundled UI never changes while running).
 */
export function serveDirectory(dir: string, cache: boolean): UiServer {
  const root = resolve(dir);
  const memo = new Map<string, Buffer>();
  return (req, res, rel) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let name: string;
    try {
      name = decodeURIComponent(rel);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (name === '/' || name === '') name = '/index.html';
    const file = resolve(join(root, name));
    if (!file.startsWith(root + sep)) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    const send = (body: Buffer): void => {
      const html = file.endsWith('.html');
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': body.length,
        'cache-control': html ? 'no-cache' : 'public, max-age=300',
        'x-content-type-options': 'nosniff',
        ...(html ? { 'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'" } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const hit = memo.get(file);
    if (hit) return send(hit);
    readFile(file).then(
      (body) => {
        if (cache) memo.set(file, body);
        send(body);
      },
      () => {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      },
    );
  };
}

/** Forwards UI requests to a development server at `address` (e.g. http://127.0.0.1:5173). */
export function reverseProxy(address: string): UiServer {
  const target = new URL(address.includes('://') ? address : `http://${address}`);
  return (req, res, rel) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port || 80, method: req.method, path: rel, headers: { ...req.headers, host: target.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Bad Gateway\n');
    });
    req.pipe(upstream);
  };
}
