/**
 * Graphite export of a real gyre process (`graphite.*`) to a plaintext TCP listener started by
 * the test: lines of known metrics under `<prefix>.<node name>.`, pushes spaced by the
 * configured interval, the tagged format, a listener that goes away and comes back (gyre keeps
 * serving and reconnects), and the connection ended on shutdown.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { SdkClients } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep, waitFor } from '../helpers/wait.js';

const KEY = 'graphite-key';

/** A plaintext listener recording each received line with its arrival time. */
class Carbon {
  readonly lines: { text: string; at: number }[] = [];
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  port = 0;
  closedConnections = 0;

  async listen(port = 0): Promise<void> {
    const server = net.createServer((s) => {
      this.sockets.add(s);
      let rest = '';
      s.on('data', (d) => {
        const parts = (rest + d.toString('utf8')).split('\n');
        rest = parts.pop() ?? '';
        const at = Date.now();
        for (const text of parts) this.lines.push({ text, at });
      });
      s.on('close', () => {
        this.sockets.delete(s);
        this.closedConnections++;
      });
    });
    await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Stops listening and drops every connection (a Graphite that went away). */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((res) => server.close(() => res()));
  }

  matching(re: RegExp): { text: string; at: number }[] {
    return this.lines.filter((l) => re.test(l.text));
  }
}

describe('graphite export', { timeout: 90_000 }, () => {
  const carbon = new Carbon();
  const tagged = new Carbon();
  let gyre: GyreProcess;
  let gyreTags: GyreProcess;

  before(async () => {
    await carbon.listen();
    await tagged.listen();
    const base = { log: { level: 'info' }, http_api: { key: KEY }, client: { insecure: true }, node: { name: 'node.one' } };
    // Prometheus stays off: the export needs no /metrics endpoint.
    gyre = await startGyre({ ...base, graphite: { enabled: true, host: '127.0.0.1', port: carbon.port, prefix: 'gyretest.', interval: '1s' } });
    gyreTags = await startGyre({ ...base, graphite: { enabled: true, host: '127.0.0.1', port: tagged.port, prefix: 'gyretags', interval: '1s', tags: true } });
  });
  after(async () => {
    await Promise.all([gyre?.stop(), gyreTags?.stop()]);
    await Promise.all([carbon.close(), tagged.close()]);
  });

  it('pushes known metrics under <prefix>.<node name> every interval', async () => {
    assert.ok(!gyre.output().includes('not supported yet'), gyre.output());
    const sdk = new SdkClients(gyre.wsUrl, 'json');
    try {
      await sdk.connected();
      const line = /^gyretest\.node_one\.centrifugo\.node\.num_clients 1\.000000 (\d+)$/;
      await waitFor(() => carbon.matching(line).length >= 3, 'three pushes with one client', 15_000);
      const pushes = carbon.matching(line);
      const stamps = pushes.map((l) => Number(line.exec(l.text)?.[1]));
      const now = Date.now() / 1000;
      for (const ts of stamps) assert.ok(Math.abs(ts - now) < 60, `unix seconds timestamp: ${ts}`);
      // Pushes are an interval apart: never two in the same burst.
      for (let i = 1; i < pushes.length; i++) {
        const gap = (pushes[i]?.at ?? 0) - (pushes[i - 1]?.at ?? 0);
        assert.ok(gap >= 700, `pushes ${gap} ms apart with a 1 s interval`);
      }
      const accepted = carbon.matching(/^gyretest\.node_one\.centrifugo\.client\.connections_accepted\.accept_protocol\.h1\..*\.transport\.websocket -?\d+ \d+$/);
      assert.ok(accepted.length > 0, carbon.lines.slice(0, 40).map((l) => l.text).join('\n'));
      // The counter goes out as the increase per push: 1 once, then 0 while nothing connects.
      assert.equal(accepted.map((l) => Number(l.text.split(' ')[1])).reduce((a, b) => a + b, 0), 1);
      assert.ok(carbon.matching(/^gyretest\.node_one\.centrifugo\.node\.build\..*version\.\S+ 1\.000000 \d+$/).length > 0, 'gauge with labels');
      assert.ok(carbon.matching(/^gyretest\.node_one\.nodejs\./).length > 0, 'process metrics too');
      assert.ok(!carbon.lines.some((l) => l.text.includes(';')), 'no tags in path mode');
    } finally {
      sdk.closeAll();
    }
  });

  it('tagged format: name;label=value', async () => {
    const sdk = new SdkClients(gyreTags.wsUrl, 'json');
    try {
      await sdk.connected();
      await waitFor(() => tagged.matching(/^gyretags\.node_one\.centrifugo\.client\.connections_accepted;accept_protocol=h1;.*;transport=websocket 1 \d+$/).length > 0, 'tagged counter', 15_000);
      assert.ok(tagged.matching(/^gyretags\.node_one\.centrifugo\.node\.build;version=\S+ 1\.000000 \d+$/).length > 0);
    } finally {
      sdk.closeAll();
    }
  });

  it('a listener that goes away does not hurt gyre, and the export resumes when it is back', async () => {
    await carbon.close();
    const cut = Date.now();
    await sleep(2500);
    assert.equal(gyre.exitCode(), null, 'gyre still runs');
    const info = await apiResult(gyre.apiUrl, KEY, 'info', {});
    assert.ok(Array.isArray(info.nodes), 'server API still answers');
    await carbon.listen(carbon.port);
    await waitFor(() => carbon.lines.some((l) => l.at > cut && l.text.startsWith('gyretest.node_one.centrifugo.node.num_clients ')), 'lines after the listener came back', 15_000);
    assert.match(gyre.output(), /graphite: export failed/);
  });

  it('ends its connection on shutdown', async () => {
    const before = carbon.closedConnections;
    assert.equal(await gyre.stop(), 0);
    await waitFor(() => carbon.closedConnections > before, 'the export connection closed');
  });
});
