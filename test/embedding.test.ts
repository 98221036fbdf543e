/**
 * Runs the embedding examples from README.md and docs/embedding.md as written (only the
 * import path and the port are adapted), then talks to them with the official SDK.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Example {
  gyre: { publish(channel: string, data: unknown): Promise<unknown>; close(): Promise<void> };
  server: http.Server;
}

let example: Example;
let port = 0;

/**
 * Writes the first js code block after `marker` in a markdown file to a module (import of
 * 'gyre' pointed at the build, `server.listen(3000)` at a free port, `gyre` and `server`
 * exported) and imports it.
 */
async function runExample(markdown: string, marker: string): Promise<{ example: Example; port: number }> {
  const text = readFileSync(join(root, markdown), 'utf8');
  const at = text.indexOf(marker);
  assert.ok(at >= 0, `${markdown} has ${marker}`);
  const match = /```js\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(match, `${markdown} has an example after ${marker}`);
  let code = match[1]!;
  assert.match(code, /from 'gyre'/);
  code = code.replace("from 'gyre'", `from ${JSON.stringify(pathToFileURL(join(root, 'dist/src/index.js')).href)}`);
  assert.match(code, /server\.listen\(3000\)/);
  code = code.replace('server.listen(3000)', "await new Promise((r) => server.listen(0, '127.0.0.1', r))");
  code += '\nexport { gyre, server };\n';
  const file = join(mkdtempSync(join(tmpdir(), 'gyre-embed-')), 'example.mjs');
  writeFileSync(file, code);
  const example = (await import(pathToFileURL(file).href)) as Example;
  const addr = example.server.address();
  return { example, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

before(async () => {
  ({ example, port } = await runExample('README.md', '## Embedding'));
});

after(async () => {
  await example?.gyre.close();
  await new Promise<void>((r) => example?.server.close(() => r()));
});

test('non-Gyre paths still reach the application handler', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/hello`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'my app');
});

test('the server API is mounted on the application server', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/api/info`, { method: 'POST', headers: { 'X-API-Key': 'secret' }, body: '{}' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { result: { nodes: unknown[] } };
  assert.equal(body.result.nodes.length, 1);
});

test('an SDK client subscribed through onSubscribe receives gyre.publish and answers RPC through onRpc', async () => {
  const client = new Centrifuge(`ws://127.0.0.1:${port}/connection/websocket`, { websocket: WebSocket });
  try {
    const sub = client.newSubscription('chat:lobby');
    const got = new Promise<unknown>((resolve) => sub.on('publication', (ctx) => resolve(ctx.data)));
    const subscribed = new Promise<void>((resolve, reject) => {
      sub.on('subscribed', () => resolve());
      sub.on('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code}`)));
    });
    sub.subscribe();
    client.connect();
    await subscribed;
    await example.gyre.publish('chat:lobby', { text: 'hello' });
    assert.deepEqual(await got, { text: 'hello' });
    const rpc = await client.rpc('time', {});
    assert.equal(typeof (rpc.data as { now: number }).now, 'number');
    await assert.rejects(client.rpc('unknown', {}), (e: { code: number }) => e.code === 104);
  } finally {
    client.disconnect();
  }
});

test('a channel outside the handler and the config rules is refused', async () => {
  const client = new Centrifuge(`ws://127.0.0.1:${port}/connection/websocket`, { websocket: WebSocket });
  try {
    const sub = client.newSubscription('news');
    const code = new Promise<number>((resolve) => sub.on('unsubscribed', (ctx) => resolve(ctx.code)));
    sub.subscribe();
    client.connect();
    assert.equal(await code, 103);
  } finally {
    client.disconnect();
  }
});

describe('docs/embedding.md: middleware() and the upgrade listener on a plain node:http server', () => {
  let docs: Example;
  let docsPort = 0;
  const sockets = new Set<Duplex>();

  before(async () => {
    ({ example: docs, port: docsPort } = await runExample('docs/embedding.md', 'With plain `node:http`:'));
    docs.server.on('connection', (s: Duplex) => sockets.add(s));
  });

  after(async () => {
    await docs?.gyre.close();
    // node:http forgets a socket once it is upgraded (or its upgrade failed): end them here so
    // close() cannot wait on one.
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => docs?.server.close(() => r()));
  });

  test('other paths reach the application through next()', async () => {
    const res = await fetch(`http://127.0.0.1:${docsPort}/hello`);
    assert.equal(await res.text(), 'my app');
  });

  test('the official SDK connects through gyre.server.upgrade and receives a publication', { timeout: 10_000 }, async () => {
    const client = new Centrifuge(`ws://127.0.0.1:${docsPort}/connection/websocket`, { websocket: WebSocket });
    try {
      const sub = client.newSubscription('chat:room');
      const got = new Promise<unknown>((resolve) => sub.on('publication', (ctx) => resolve(ctx.data)));
      const subscribed = new Promise<void>((resolve, reject) => {
        sub.on('subscribed', () => resolve());
        sub.on('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code}`)));
        client.on('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
        // A failed upgrade only makes the SDK retry: fail on its first transport error instead.
        client.on('error', (ctx) => reject(new Error(`client error: ${ctx.error.message}`)));
      });
      sub.subscribe();
      client.connect();
      await subscribed;
      await docs.gyre.publish('chat:room', { text: 'through the upgrade listener' });
      assert.deepEqual(await got, { text: 'through the upgrade listener' });
    } finally {
      client.disconnect();
    }
  });
});
