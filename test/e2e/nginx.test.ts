/**
 * The nginx reverse-proxy configuration of docs/deployment.md, tested as written: Debian's nginx
 * runs in the foreground with a temporary prefix, the document's `nginx` block (upstream and
 * listen port rewritten to spare ports) inside its `http` block, in front of a real Gyre. The
 * official SDK connects through it over WebSocket, SSE and HTTP-streaming, subscribes, gets a
 * server API publication and makes a round trip; the streams also stay open across a quiet
 * period with server pings passing through. nginx ignores Gyre's X-Accel-Buffering header
 * here, so the configuration alone must keep streams unbuffered. Skipped when nginx is not installed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadableStream } from 'node:stream/web';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { apiResult } from '../helpers/api.js';
import { sdkBuilds, subscribed } from '../helpers/sdk.js';
import { freePort, repoRoot, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { FetchEventSource } from '../helpers/streams.js';
import { collect, sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const API_KEY = 'nginx-e2e-key';

/** The first ```nginx block of docs/deployment.md. */
function documentedConfig(): string {
  const doc = readFileSync(join(repoRoot, 'docs', 'deployment.md'), 'utf8');
  const m = /```nginx\n([\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/deployment.md has an nginx block');
  return m[1] as string;
}

describe('nginx in front of Gyre (docs/deployment.md)', { skip: NGINX ? false : 'nginx is not installed', timeout: 90_000 }, () => {
  let gyre: GyreProcess;
  let nginx: ChildProcess;
  let prefix: string;
  let base: string;
  let nginxLog = '';

  before(async () => {
    gyre = await startGyre({
      client: { insecure: true, ping_interval: '1s', pong_timeout: '500ms' },
      http_api: { key: API_KEY },
      http_stream: { enabled: true },
      sse: { enabled: true },
      channel: { without_namespace: { presence: false } },
    });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    prefix = mkdtempSync(join(tmpdir(), 'gyre-nginx-'));
    const block = documentedConfig();
    assert.match(block, /server 127\.0\.0\.1:8000;/);
    assert.match(block, /listen 80;/);
    const site = block.replace('server 127.0.0.1:8000;', `server 127.0.0.1:${gyre.port};`).replace('listen 80;', `listen 127.0.0.1:${port};`);
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(prefix, t)};`).join('\n');
    writeFileSync(
      join(prefix, 'nginx.conf'),
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${join(prefix, 'nginx.pid')};`,
        `error_log ${join(prefix, 'error.log')} warn;`,
        'events { worker_connections 256; }',
        'http {',
        `    access_log ${join(prefix, 'access.log')};`,
        // As if a proxy between stripped Gyre's X-Accel-Buffering header: the config alone must stop buffering.
        '    proxy_ignore_headers X-Accel-Buffering;',
        // A site-wide gzip, as many nginx setups have: the streaming locations must opt out.
        '    gzip on;',
        '    gzip_min_length 0;',
        '    gzip_types text/event-stream application/json application/octet-stream text/plain;',
        temp,
        site,
        '}',
        '',
      ].join('\n'),
    );
    nginx = spawn(NGINX as string, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    nginx.stdout?.on('data', (c: Buffer) => (nginxLog += c.toString('utf8')));
    nginx.stderr?.on('data', (c: Buffer) => (nginxLog += c.toString('utf8')));
    await waitFor(
      async () => {
        if (nginx.exitCode !== null) throw new Error(`nginx exited ${nginx.exitCode}: ${nginxLog}${readFileSync(join(prefix, 'error.log'), 'utf8')}`);
        return fetch(`${base}/health`).then(() => true, () => false);
      },
      'nginx listening',
      10_000,
    );
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx.once('exit', r));
      nginx.kill('SIGQUIT');
      const killer = setTimeout(() => nginx.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    if (prefix) rmSync(prefix, { recursive: true, force: true });
    if (gyre) assert.equal(await gyre.stop(), 0);
  });

  for (const transport of ['websocket', 'sse', 'http_stream'] as const) {
    it(`the SDK over ${transport} through nginx: connect, subscribe, publications, RPC round trips across pings`, async () => {
      const endpoint = `${base.replace('http:', transport === 'websocket' ? 'ws:' : 'http:')}/connection/${transport}`;
      const c: Centrifuge = new sdkBuilds.json([{ transport, endpoint }], {
        websocket: WebSocket,
        fetch: globalThis.fetch,
        readableStream: ReadableStream,
        eventsource: FetchEventSource,
        emulationEndpoint: `${base}/emulation`,
        minReconnectDelay: 100,
        maxReconnectDelay: 300,
      } as any);
      c.on('error', () => undefined);
      const disconnects = collect(c, 'disconnected');
      try {
        const ready = waitEvent(c, 'connected');
        c.connect();
        const ctx: any = await ready;
        assert.equal(ctx.transport, transport);
        const channel = `nginx-${uniq()}`;
        const { sub } = await subscribed(c, channel);
        const pubs = collect<any>(sub, 'publication');
        await apiResult(`${base}/api`, API_KEY, 'publish', { channel, data: { n: 1 } });
        await waitFor(() => pubs.length === 1, 'the publication through nginx');
        assert.deepEqual(pubs[0].data, { n: 1 });
        // Three ping intervals with nothing else going on: pings and pongs pass nginx both ways.
        await sleep(3200);
        await apiResult(`${base}/api`, API_KEY, 'publish', { channel, data: { n: 2 } });
        await waitFor(() => pubs.length === 2, 'a publication after the quiet period');
        const presence = await c.presenceStats(channel).catch((e: unknown) => e);
        assert.ok(presence, 'a client command answered through nginx');
        assert.deepEqual(disconnects, [], 'the connection stayed up');
      } finally {
        c.disconnect();
      }
    });
  }

  it('streaming responses are not buffered by nginx: an SSE connect reply arrives before the stream ends', async () => {
    const ac = new AbortController();
    const url = `${base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect: {} }))}`;
    const res = await fetch(url, { signal: ac.signal });
    try {
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const reader = res.body!.getReader();
      // Read chunks (a preamble may come on its own) until the connect reply, for at most 3 s.
      const deadline = Date.now() + 3000;
      let got = '';
      while (!got.includes('"connect"') && Date.now() < deadline) {
        const chunk = await Promise.race([reader.read(), sleep(deadline - Date.now()).then(() => undefined)]);
        if (!chunk || chunk.done) break;
        got += Buffer.from(chunk.value).toString('utf8');
      }
      assert.match(got, /"connect"/, 'the connect reply was flushed while the stream stays open');
    } finally {
      ac.abort();
    }
  });
});
