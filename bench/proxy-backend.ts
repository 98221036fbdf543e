// The application backend Gyre's HTTP proxies call in the proxy storm scenarios: a plain
// node:http server in its own process, so its CPU is measured apart from Gyre's.
//
// It does what a small real backend does per call: read the whole body, JSON.parse it,
// look the user up (from the forwarded Cookie `sid=<id>`, else from the connect `data.user`)
// and answer with JSON.stringify:
//   POST /connect    {"result":{"user":"<id>"}}; no identity: {"disconnect":{"code":4501,...}}
//   POST /subscribe  {"result":{}} when the request names a user and a channel of the
//                    `px` namespace, else {"error":{"code":103,"message":"permission denied"}}
//
// Usage: node dist/bench/proxy-backend.js --port N [--host 127.0.0.1] [--watch-stdin]
// (--watch-stdin: exit when stdin closes, so the backend never outlives the orchestrator)

import http from 'node:http';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The value of cookie `name` in a Cookie header, if present. */
function cookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

interface HookRequest {
  user?: string;
  channel?: string;
  data?: { user?: unknown };
}

function answer(path: string | undefined, body: HookRequest, sid: string | undefined): unknown {
  if (path === '/connect') {
    const user = sid ?? (typeof body.data?.user === 'string' ? body.data.user : undefined);
    return user ? { result: { user } } : { disconnect: { code: 4501, reason: 'unauthorized' } };
  }
  if (path === '/subscribe') {
    const ok = typeof body.user === 'string' && body.user !== '' && typeof body.channel === 'string' && body.channel.startsWith('px:');
    return ok ? { result: {} } : { error: { code: 103, message: 'permission denied' } };
  }
  return undefined;
}

const port = Number(arg('--port') ?? '0');
const host = arg('--host') ?? '127.0.0.1';

const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: HookRequest;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as HookRequest;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const out = answer(req.url, body, cookie(req.headers.cookie, 'sid'));
    if (out === undefined) {
      res.writeHead(404).end();
      return;
    }
    const text = JSON.stringify(out);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  });
});
// A storm sends every call at once; keep the accept queue as deep as Gyre's.
server.listen({ port, host, backlog: 4096 });

if (process.argv.includes('--watch-stdin')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));
