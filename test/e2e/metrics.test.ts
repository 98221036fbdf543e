/**
 * Prometheus metrics of a real gyre process: known traffic (raw WebSocket clients, server API
 * calls) and the exact counter values, sizes included, in the scraped exposition text; the
 * endpoint lives on the internal port only.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiCall, apiResult } from '../helpers/api.js';
import { parse, value, type Sample } from '../helpers/prom.js';
import { RawClient } from '../helpers/raw-ws.js';
import { freePort, repoRoot, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'metrics-key';
const N = 3;
const M = 4;

/** Byte lengths of every JSON line a raw client received, grouped by what it was. */
function receivedBytes(c: RawClient): Record<string, { count: number; bytes: number }> {
  const out: Record<string, { count: number; bytes: number }> = {};
  for (const f of c.frames) {
    for (const line of f.data.toString('utf8').split('\n')) {
      if (line === '') continue;
      const msg = JSON.parse(line);
      const kind = msg.push ? `push_${Object.keys(msg.push).find((k) => k !== 'channel')}` : msg.connect ? 'connect' : 'subscribe';
      const kindKey = kind === 'push_pub' ? 'push_publication' : kind;
      const e = (out[kindKey] ??= { count: 0, bytes: 0 });
      e.count++;
      e.bytes += Buffer.byteLength(line);
    }
  }
  return out;
}

describe('Prometheus metrics', { timeout: 45_000 }, () => {
  let gyre: GyreProcess;
  let metricsUrl: string;
  /** The server API lives on the internal port too. */
  let apiUrl: string;
  const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parse(await res.text());
  };

  before(async () => {
    const internalPort = await freePort();
    gyre = await startGyre({
      client: { insecure: true },
      http_api: { key: API_KEY },
      http_server: { internal_port: String(internalPort) },
      prometheus: { enabled: true },
      channel: { without_namespace: { presence: false } },
    });
    metricsUrl = `http://127.0.0.1:${internalPort}/metrics`;
    apiUrl = `http://127.0.0.1:${internalPort}/api`;
    await waitFor(() => fetch(metricsUrl).then((r) => r.ok, () => false), 'internal port');
  });
  after(async () => {
    assert.equal(await gyre.stop(), 0);
  });

  it('is served on the internal port only', async () => {
    assert.equal((await fetch(`${gyre.base}/metrics`)).status, 404);
  });

  it('counts connections, commands, publications and API calls exactly', async () => {
    const clients: RawClient[] = [];
    const sentBytes = { connect: 0, subscribe: 0 };
    for (let i = 0; i < N; i++) {
      const c = await RawClient.open(gyre.wsUrl);
      clients.push(c);
      const cmd = JSON.stringify({ id: c.id(), connect: { name: 'metrics-e2e', version: '1.2.3' } });
      sentBytes.connect += Buffer.byteLength(cmd);
      c.sendRaw(cmd);
      await c.reply(1);
    }
    const [a, b, c] = clients as [RawClient, RawClient, RawClient];
    // K = 3 subscribe commands: two succeed, one names an unknown namespace (102).
    for (const [client, channel] of [[a, 'news'], [b, 'news'], [c, 'nope:x']] as const) {
      const id = client.id();
      const cmd = JSON.stringify({ id, subscribe: { channel } });
      sentBytes.subscribe += Buffer.byteLength(cmd);
      client.sendRaw(cmd);
      await client.reply(id);
    }
    for (let i = 1; i <= M; i++) await apiResult(apiUrl, API_KEY, 'publish', { channel: 'news', data: { n: i } });
    const failed = await apiCall(apiUrl, API_KEY, 'publish', { channel: 'nope:y', data: {} });
    assert.equal(failed.body.error.code, 102);
    for (const s of [a, b]) await s.waitUntil(() => (s.json.filter((m) => m.push?.pub).length === M ? true : undefined), `${M} publications`);

    const got = { connect: { count: 0, bytes: 0 }, subscribe: { count: 0, bytes: 0 }, push_publication: { count: 0, bytes: 0 } };
    for (const cl of clients) {
      for (const [k, v] of Object.entries(receivedBytes(cl))) {
        const g = got[k as keyof typeof got];
        assert.ok(g, `unexpected frame ${k}`);
        g.count += v.count;
        g.bytes += v.bytes;
      }
    }
    assert.deepEqual([got.connect.count, got.subscribe.count, got.push_publication.count], [N, 3, 2 * M]);

    const s = await scrape();
    const ns = { channel_namespace: '' };
    const conn = { transport: 'websocket', accept_protocol: 'h1', client_name: 'metrics-e2e', client_version: '1.2.3' };
    const expect: [string, Record<string, string>, number][] = [
      ['centrifugo_node_num_clients', {}, N],
      ['centrifugo_node_num_users', {}, 1],
      ['centrifugo_node_num_subscriptions', {}, 2],
      ['centrifugo_node_num_channels', {}, 1],
      ['centrifugo_node_num_nodes', {}, 1],
      ['centrifugo_node_build', { version }, 1],
      ['centrifugo_client_connections_accepted', conn, N],
      ['centrifugo_client_connections_inflight', conn, N],
      ['centrifugo_client_subscriptions_accepted', { client_name: 'metrics-e2e', ...ns }, 2],
      ['centrifugo_client_subscriptions_inflight', { client_name: 'metrics-e2e', ...ns }, 2],
      ['centrifugo_client_command_duration_seconds_count', { method: 'connect', ...ns }, N],
      ['centrifugo_client_command_duration_seconds_count', { method: 'subscribe', ...ns }, 3],
      ['centrifugo_client_command_duration_seconds_histogram_count', { method: 'connect', ...ns }, N],
      ['centrifugo_client_command_duration_seconds_histogram_count', { method: 'subscribe', ...ns }, 3],
      ['centrifugo_client_num_reply_errors', { method: 'subscribe', code: '102', ...ns }, 1],
      ['centrifugo_node_messages_sent_count', { type: 'publication', ...ns }, M],
      ['centrifugo_node_messages_received_count', { type: 'publication', ...ns }, M],
      ['centrifugo_node_messages_sent_count', { type: 'join', ...ns }, 0],
      ['centrifugo_api_command_duration_seconds_count', { protocol: 'http', method: 'publish' }, M + 1],
      ['centrifugo_api_command_duration_seconds_histogram_count', { protocol: 'http', method: 'publish' }, M + 1],
      ['centrifugo_api_command_errors_total', { protocol: 'http', method: 'publish', error: '102' }, 1],
      ['centrifugo_transport_messages_received', { transport: 'websocket', frame_type: 'connect', ...ns }, N],
      ['centrifugo_transport_messages_received_size', { transport: 'websocket', frame_type: 'connect', ...ns }, sentBytes.connect],
      ['centrifugo_transport_messages_received', { transport: 'websocket', frame_type: 'subscribe', ...ns }, 3],
      ['centrifugo_transport_messages_received_size', { transport: 'websocket', frame_type: 'subscribe', ...ns }, sentBytes.subscribe],
      ['centrifugo_transport_messages_sent', { transport: 'websocket', frame_type: 'connect', ...ns }, N],
      ['centrifugo_transport_messages_sent_size', { transport: 'websocket', frame_type: 'connect', ...ns }, got.connect.bytes],
      ['centrifugo_transport_messages_sent', { transport: 'websocket', frame_type: 'subscribe', ...ns }, 3],
      ['centrifugo_transport_messages_sent_size', { transport: 'websocket', frame_type: 'subscribe', ...ns }, got.subscribe.bytes],
      ['centrifugo_transport_messages_sent', { transport: 'websocket', frame_type: 'push_publication', ...ns }, 2 * M],
      ['centrifugo_transport_messages_sent_size', { transport: 'websocket', frame_type: 'push_publication', ...ns }, got.push_publication.bytes],
    ];
    for (const [name, labels, want] of expect) assert.equal(value(s, name, labels), want, `${name}${JSON.stringify(labels)}`);
    assert.ok(value(s, 'centrifugo_client_command_duration_seconds', { method: 'connect', quantile: '0.99', ...ns }) !== undefined, 'legacy summary');
    assert.ok((value(s, 'centrifugo_node_broadcast_duration_seconds_count', { type: 'publication', ...ns }) ?? 0) >= M);
    assert.ok(s.some((x) => x.name === 'process_cpu_user_seconds_total'), 'process metrics');

    // Server-side unsubscribe and disconnect, then a client-side close.
    const bId = (b.json.find((m) => m.connect) as { connect: { client: string } }).connect.client;
    const cId = (c.json.find((m) => m.connect) as { connect: { client: string } }).connect.client;
    await apiResult(apiUrl, API_KEY, 'unsubscribe', { user: '', client: bId, channel: 'news' });
    const unsub = await b.push((p) => !!p.unsubscribe, 'unsubscribe push');
    await apiResult(apiUrl, API_KEY, 'disconnect', { user: '', client: cId });
    const closed = await c.waitClose();
    await a.close();
    await waitFor(async () => value(await scrape(), 'centrifugo_node_num_clients') === 1, 'one client left');
    const s2 = await scrape();
    assert.equal(value(s2, 'centrifugo_client_connections_inflight', conn), 1);
    assert.equal(value(s2, 'centrifugo_client_connections_accepted', conn), N);
    assert.equal(value(s2, 'centrifugo_client_subscriptions_inflight', { client_name: 'metrics-e2e', ...ns }), 0);
    assert.equal(value(s2, 'centrifugo_client_num_server_unsubscribes', { code: String(unsub.unsubscribe.code), ...ns }), 1);
    assert.equal(value(s2, 'centrifugo_client_num_server_disconnects', { code: String(closed.code) }), 1);
    assert.equal(value(s2, 'centrifugo_client_num_server_disconnects', { code: '3000' }), undefined, 'client-side closes are not server disconnects');
    assert.equal(value(s2, 'centrifugo_transport_messages_sent', { transport: 'websocket', frame_type: 'push_unsubscribe', ...ns }), 1);
    await b.close();
  });
});

describe("Centrifugo's connection and delivery series", { timeout: 45_000 }, () => {
  let gyre: GyreProcess;
  let metricsUrl: string;
  let apiUrl: string;
  const scrape = async (): Promise<Sample[]> => parse(await (await fetch(metricsUrl)).text());

  before(async () => {
    const internalPort = await freePort();
    gyre = await startGyre({
      client: { insecure: true, connection_limit: 2, ping_interval: '1s', pong_timeout: '500ms' },
      http_api: { key: API_KEY },
      http_server: { internal_port: String(internalPort) },
      prometheus: { enabled: true },
      channel: { namespaces: [{ name: 'quotes', allow_tags_filter: true }] },
    });
    metricsUrl = `http://127.0.0.1:${internalPort}/metrics`;
    apiUrl = `http://127.0.0.1:${internalPort}/api`;
    await waitFor(() => fetch(metricsUrl).then((r) => r.ok, () => false), 'internal port');
  });
  after(async () => {
    assert.equal(await gyre.stop(), 0);
  });

  it('counts transports, limit refusals, tags-filter drops, pub/sub lag, ping-pong round trips and server closes', async () => {
    const ns = { channel_namespace: '' };
    const before = await scrape();
    assert.equal(value(before, 'centrifugo_node_client_connection_limit'), 0, 'present before any refusal');
    assert.equal(value(before, 'centrifugo_client_connection_limit_reached_total'), 0);
    assert.equal(value(before, 'centrifugo_node_pub_sub_lag_seconds_count', ns), undefined);

    // a answers every ping, b never does.
    const a = await RawClient.open(gyre.wsUrl);
    const b = await RawClient.open(gyre.wsUrl);
    let answered = 0;
    const ponger = setInterval(() => {
      const pings = a.json.filter((m) => Object.keys(m).length === 0).length;
      for (; answered < pings; answered++) a.sendRaw('{}');
    }, 20);
    try {
      await a.connect();
      await b.connect();
      // connection_limit is 2: the third upgrade is refused with 503.
      await assert.rejects(RawClient.open(gyre.wsUrl), /503/);

      const channel = 'quotes:btc';
      await a.call({ subscribe: { channel, tf: { key: 'ticker', cmp: 'eq', val: 'BTC' } } });
      await b.call({ subscribe: { channel } });
      await apiResult(apiUrl, API_KEY, 'publish', { channel, data: { n: 1 }, tags: { ticker: 'ETH' } });
      await apiResult(apiUrl, API_KEY, 'publish', { channel, data: { n: 2 }, tags: { ticker: 'BTC' } });
      await a.push((p) => p.pub?.data?.n === 2, 'the BTC publication');
      await b.push((p) => p.pub?.data?.n === 2, 'both publications');
      assert.equal(a.json.filter((m) => m.push?.pub).length, 1, 'the ETH publication was filtered');

      // b misses its pong and is closed with 3012; a has answered at least one ping by then.
      const closed = await b.waitClose(10_000);
      assert.equal(closed.code, 3012);
      await waitFor(() => answered > 0, 'a answered a ping');

      await waitFor(async () => (value(await scrape(), 'centrifugo_client_ping_pong_duration_seconds_count', { transport: 'websocket' }) ?? 0) >= 1, 'a ping-pong round trip');
      const s = await scrape();
      const expect: [string, Record<string, string>, number][] = [
        ['centrifugo_transport_connect_count', { transport: 'websocket' }, 2],
        ['centrifugo_node_client_connection_limit', {}, 1],
        ['centrifugo_client_connection_limit_reached_total', {}, 1],
        ['centrifugo_node_tags_filter_dropped_publications', ns, 1],
        ['centrifugo_node_pub_sub_lag_seconds_count', ns, 2],
        ['centrifugo_transport_outgoing_close_count', { transport: 'websocket', code: '3012' }, 1],
      ];
      for (const [name, labels, want] of expect) assert.equal(value(s, name, labels), want, `${name}${JSON.stringify(labels)}`);
      // Publications are delivered in well under the largest bucket, on the same host.
      assert.equal(value(s, 'centrifugo_node_pub_sub_lag_seconds_bucket', { ...ns, le: '10' }), 2);
      assert.ok((value(s, 'centrifugo_node_pub_sub_lag_seconds_sum', ns) ?? -1) >= 0);
      const rtt = value(s, 'centrifugo_client_ping_pong_duration_seconds_sum', { transport: 'websocket' }) ?? -1;
      assert.ok(rtt > 0 && rtt < 10, `ping-pong round trips sum to ${rtt} s`);
    } finally {
      clearInterval(ponger);
      await a.close();
    }
  });
});
