import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { nullLogger } from '../core/index.js';
import { GraphiteFormatter, graphitePathComponent, graphitePrefix } from './graphite-format.js';
import { GraphiteExporter } from './graphite.js';

/** A registry with one metric of each kind, Centrifugo-style names. */
function sampleRegistry(): { r: Registry; counter: Counter<string>; summary: Summary<string>; histogram: Histogram<string> } {
  const r = new Registry();
  const counter = new Counter({ name: 'centrifugo_client_connections_accepted', help: 'h', labelNames: ['transport', 'client_name', 'empty'], registers: [r] });
  const gauge = new Gauge({ name: 'centrifugo_node_num_clients', help: 'h', registers: [r] });
  const summary = new Summary({ name: 'centrifugo_client_command_duration_seconds', help: 'h', labelNames: ['method'], percentiles: [0.5, 0.99, 0.999], registers: [r] });
  const histogram = new Histogram({ name: 'centrifugo_api_duration', help: 'h', labelNames: ['method'], buckets: [0.1, 1], registers: [r] });
  counter.inc({ transport: 'websocket', client_name: 'js', empty: '' }, 3);
  gauge.set(2.5);
  summary.observe({ method: 'publish' }, 0.25);
  histogram.observe({ method: 'publish' }, 0.5);
  histogram.observe({ method: 'publish' }, 2);
  return { r, counter, summary, histogram };
}

const lines = (batch: string): string[] => batch.split('\n').filter((l) => l !== '');

describe('graphite format', () => {
  it('cleans path components and builds the node prefix', () => {
    assert.equal(graphitePathComponent('service'), 'service');
    assert.equal(graphitePathComponent('host.example.com'), 'host_example_com');
    assert.equal(graphitePathComponent('node.'), 'node_');
    assert.equal(graphitePathComponent('ёж-1'), '__-1');
    assert.equal(graphitePrefix('gyre.', 'a.b'), 'gyre.a_b');
    assert.equal(graphitePrefix('gyre', 'n1'), 'gyre.n1');
  });

  it('path mode: names split in three, labels as sorted path pairs, summaries and histograms as sum/count/quantiles', async () => {
    const { r } = sampleRegistry();
    const f = new GraphiteFormatter('pre.n1', false);
    const out = lines(f.format(await r.getMetricsAsJSON(), 1700000000));
    assert.ok(out.includes('pre.n1.centrifugo.client.connections_accepted.client_name.js.transport.websocket 3 1700000000'), out.join('\n'));
    assert.ok(out.includes('pre.n1.centrifugo.node.num_clients 2.500000 1700000000'), out.join('\n'));
    assert.ok(out.includes('pre.n1.centrifugo.client.command_duration_seconds.sum.method.publish 0.250000 1700000000'));
    assert.ok(out.includes('pre.n1.centrifugo.client.command_duration_seconds.count.method.publish 1.000000 1700000000'));
    for (const q of ['50', '99', '999']) {
      assert.ok(out.includes(`pre.n1.centrifugo.client.command_duration_seconds.quantile.${q}.method.publish 0.250000 1700000000`), q);
    }
    assert.ok(out.includes('pre.n1.centrifugo.api.duration.sum.method.publish 2.500000 1700000000'), out.join('\n'));
    assert.ok(out.includes('pre.n1.centrifugo.api.duration.count.method.publish 2.000000 1700000000'));
    assert.ok(!out.some((l) => l.includes('bucket') || l.includes('.le.') || l.includes('empty')), 'no buckets, no empty labels');
  });

  it('tagged mode appends ;label=value instead of path pairs', async () => {
    const { r } = sampleRegistry();
    const out = lines(new GraphiteFormatter('pre.n1', true).format(await r.getMetricsAsJSON(), 5));
    assert.ok(out.includes('pre.n1.centrifugo.client.connections_accepted;client_name=js;transport=websocket 3 5'), out.join('\n'));
    assert.ok(out.includes('pre.n1.centrifugo.client.command_duration_seconds.quantile.99;method=publish 0.250000 5'));
    assert.ok(out.includes('pre.n1.centrifugo.node.num_clients 2.500000 5'));
  });

  it('counters and sums go out as the increase since the previous push', async () => {
    const { r, counter, summary } = sampleRegistry();
    const f = new GraphiteFormatter('p.n', false);
    f.format(await r.getMetricsAsJSON(), 1);
    counter.inc({ transport: 'websocket', client_name: 'js', empty: '' }, 4);
    summary.observe({ method: 'publish' }, 1);
    const out = lines(f.format(await r.getMetricsAsJSON(), 2));
    assert.ok(out.includes('p.n.centrifugo.client.connections_accepted.client_name.js.transport.websocket 4 2'), out.join('\n'));
    assert.ok(out.includes('p.n.centrifugo.client.command_duration_seconds.count.method.publish 1.000000 2'));
    assert.ok(out.includes('p.n.centrifugo.client.command_duration_seconds.sum.method.publish 1.000000 2'));
    const again = lines(f.format(await r.getMetricsAsJSON(), 3));
    assert.ok(again.includes('p.n.centrifugo.client.connections_accepted.client_name.js.transport.websocket 0 3'));
  });

  it('label values never break a line', async () => {
    const r = new Registry();
    new Gauge({ name: 'gyre_x_y', help: 'h', labelNames: ['name'], registers: [r] }).set({ name: 'a b\nc' }, 1);
    const out = lines(new GraphiteFormatter('p.n', false).format(await r.getMetricsAsJSON(), 1));
    assert.deepEqual(out, ['p.n.gyre.x.y.name.a_b_c 1.000000 1']);
  });
});

/** A TCP listener collecting received text; `close()` drops its connections too. */
async function listener(port = 0): Promise<{ port: number; text: () => string; open: () => number; close: () => Promise<void> }> {
  let text = '';
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => (text += d.toString('utf8')));
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((res) => srv.listen(port, '127.0.0.1', res));
  const addr = srv.address() as net.AddressInfo;
  return {
    port: addr.port,
    text: () => text,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        srv.close(() => res());
      }),
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('graphite exporter', () => {
  it('reconnects after the listener goes away and keeps only a bounded backlog', async () => {
    const { r } = sampleRegistry();
    let tick = 0;
    let l = await listener();
    const port = l.port;
    const exporter = new GraphiteExporter({
      registry: r,
      host: '127.0.0.1',
      port,
      prefix: 'gyre',
      nodeName: 'n1',
      intervalMs: 60_000,
      tags: false,
      logger: nullLogger,
      maxBufferBytes: 1000,
      now: () => ++tick * 1000,
    });
    try {
      await exporter.pushOnce();
      await until(() => l.text().includes('gyre.n1.centrifugo.node.num_clients 2.500000 1\n'), 'first batch');
      const batchBytes = Buffer.byteLength(l.text());
      assert.ok(batchBytes * 2 > 1000 && batchBytes < 1000, `test needs a bound between one and two batches (batch is ${batchBytes} bytes)`);
      await l.close();
      await new Promise((res) => setTimeout(res, 50));
      for (let i = 0; i < 5; i++) await exporter.pushOnce(); // ticks 2..6 while nobody listens
      await new Promise((res) => setTimeout(res, 100)); // the refused connection attempt ends
      l = await listener(port);
      await exporter.pushOnce(); // tick 7 reconnects and flushes the backlog
      await until(() => l.text().includes('num_clients 2.500000 7\n'), 'batch after reconnect');
      const stamps = new Set(lines(l.text()).map((x) => x.split(' ')[2]));
      assert.ok(!stamps.has('2') && !stamps.has('3'), `the oldest batches were dropped: ${[...stamps].join(',')}`);
      assert.ok(stamps.size <= 2, `at most the bound is kept: ${[...stamps].join(',')}`);
    } finally {
      await exporter.close();
      await l.close();
    }
  });

  it('pushes every interval once started and stops on close', async () => {
    const { r } = sampleRegistry();
    const l = await listener();
    const exporter = new GraphiteExporter({ registry: r, host: '127.0.0.1', port: l.port, prefix: 'gyre', nodeName: 'n1', intervalMs: 30, tags: true, logger: nullLogger });
    try {
      exporter.start();
      await until(() => (l.text().match(/num_clients/g) ?? []).length >= 3, 'three pushes');
      assert.equal(l.open(), 1, 'one long-lived connection');
      await exporter.close();
      await until(() => l.open() === 0, 'the connection ended by close()');
      const seen = l.text().length;
      await new Promise((res) => setTimeout(res, 150));
      assert.equal(l.text().length, seen, 'nothing after close');
    } finally {
      await exporter.close();
      await l.close();
    }
  });
});
