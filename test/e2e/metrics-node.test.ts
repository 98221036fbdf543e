/**
 * Prometheus series of node operations in a real gyre process, driven by the official SDK,
 * raw WebSocket clients and the server API: node actions, survey durations, suppressed
 * publishes, recovered publication counts and incoming HTTP requests, each checked for its
 * exact value after known traffic.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { apiCall, apiResult } from '../helpers/api.js';
import { scrape, value, type Sample } from '../helpers/prom.js';
import { RawClient } from '../helpers/raw-ws.js';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitEvent, waitFor } from '../helpers/wait.js';

const API_KEY = 'metrics-node-key';
const ns = { channel_namespace: '' };

/**
 * One server API call as the first request of a keep-alive connection of its own: the shape the
 * server's API fast path serves without node:http (unless a per-request hook needs node:http).
 */
function postOnNewConnection(url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: true });
    const data = JSON.stringify(body);
    const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)), 'x-api-key': API_KEY };
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        agent.destroy();
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

describe('node actions, surveys, suppressed publishes, recovered publications and HTTP requests', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let internal: string;
  let apiUrl: string;
  let client: Centrifuge | undefined;
  let raw: RawClient | undefined;
  const metrics = (): Promise<Sample[]> => scrape(`${internal}/metrics`);
  const publish = (params: Record<string, unknown>): Promise<unknown> => apiResult(apiUrl, API_KEY, 'publish', params);

  before(async () => {
    const internalPort = await freePort();
    gyre = await startGyre({
      // A long presence refresh period: every add_presence below comes from a subscribe.
      client: { insecure: true, presence_update_interval: '1h' },
      http_api: { key: API_KEY },
      http_server: { internal_port: String(internalPort) },
      health: { enabled: true },
      prometheus: { enabled: true, instrument_http_handlers: true, recovered_publications_histogram: true },
      channel: {
        namespaces: [
          { name: 'rec', history_size: 100, history_ttl: '300s', force_recovery: true, presence: true, allow_presence_for_subscriber: true, allow_history_for_subscriber: true },
          { name: 'cache', history_size: 10, history_ttl: '300s', force_recovery: true, force_recovery_mode: 'cache' },
        ],
      },
    });
    internal = `http://127.0.0.1:${internalPort}`;
    apiUrl = `${internal}/api`;
    await waitFor(() => fetch(`${internal}/health`).then((r) => r.ok, () => false), 'internal port', 20_000);
  });
  after(async () => {
    client?.disconnect();
    await raw?.close();
    assert.equal(await gyre.stop(), 0);
  });

  it('counts every operation once, with Centrifugo names and labels', async () => {
    const start = await metrics();
    assert.equal(start.filter((s) => s.name === 'centrifugo_node_action_count').length, 0, 'no action before any traffic');
    assert.equal(start.filter((s) => s.name === 'centrifugo_broker_publish_suppressed_count').length, 0);
    assert.equal(value(start, 'centrifugo_client_recovered_publications_count', ns), undefined);

    // SDK subscriber: subscribe (positioned), 2 publications, disconnect, 3 missed, reconnect and recover them.
    const c = new Centrifuge(gyre.wsUrl, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 300 });
    client = c;
    c.on('error', () => undefined);
    const sub = c.newSubscription('rec:x');
    const seen: unknown[] = [];
    sub.on('publication', (ctx) => seen.push(ctx.data));
    const subscribed = waitEvent(sub, 'subscribed', { timeoutMs: 10_000 });
    sub.subscribe();
    c.connect();
    await subscribed;
    for (const n of [1, 2]) await publish({ channel: 'rec:x', data: { n } });
    await waitFor(() => seen.length === 2, 'two live publications', 10_000);
    c.disconnect();
    await waitFor(async () => value(await metrics(), 'centrifugo_node_action_count', { action: 'broker_unsubscribe', ...ns }) === 1, 'the node left the channel', 10_000);
    for (const n of [3, 4, 5]) await publish({ channel: 'rec:x', data: { n } });
    const resubscribed = waitEvent<{ recovered: boolean; wasRecovering: boolean }>(sub, 'subscribed', { timeoutMs: 10_000 });
    c.connect();
    const ctx = await resubscribed;
    assert.deepEqual([ctx.wasRecovering, ctx.recovered], [true, true]);
    await waitFor(() => seen.length === 5, 'three recovered publications', 10_000);

    // Presence and history, from the client and from the server API; a cross-node survey.
    await sub.presence();
    await sub.presenceStats();
    await sub.history({ limit: 10 });
    await apiResult(apiUrl, API_KEY, 'presence', { channel: 'rec:x' });
    await apiResult(apiUrl, API_KEY, 'presence_stats', { channel: 'rec:x' });
    await apiResult(apiUrl, API_KEY, 'history', { channel: 'rec:x', limit: 10 });
    await apiResult(apiUrl, API_KEY, 'history_remove', { channel: 'rec:x' });
    const channels = await apiResult(apiUrl, API_KEY, 'channels', {});
    assert.deepEqual(channels.channels['rec:x'], { num_clients: 1 });

    // One idempotent repeat and one stale version, both suppressed by the broker.
    await publish({ channel: 'rec:y', data: {}, idempotency_key: 'k1' });
    await publish({ channel: 'rec:y', data: {}, idempotency_key: 'k1' });
    await publish({ channel: 'rec:y', data: {}, version: 5 });
    await publish({ channel: 'rec:y', data: {}, version: 4 });

    // Cache recovery from a raw client.
    raw = await RawClient.open(gyre.wsUrl);
    await raw.connect();
    const cached = await raw.call({ subscribe: { channel: 'cache:z', recover: true, epoch: '', offset: 0 } });
    assert.equal(cached.error, undefined);

    // A publish on a fresh keep-alive connection is counted too.
    assert.equal(await postOnNewConnection(`${apiUrl}/publish`, { channel: 'rec:y', data: {} }), 200);

    // Requests no route serves, and the health endpoint.
    assert.equal((await fetch(`${internal}/nope`)).status, 404);
    assert.equal((await apiCall(apiUrl, API_KEY, 'nope', {})).status, 404);
    assert.equal((await fetch(`${internal}/health`)).status, 200);
    await assert.rejects(RawClient.open(`ws://127.0.0.1:${gyre.port}/nope`), /404/);

    const http = (path: string, method: string, status: number) => ({ path, method, status: String(status) });
    await waitFor(async () => value(await metrics(), 'centrifugo_node_incoming_http_requests_total', http('/api/publish', 'POST', 200)) === 10, 'every publish counted', 10_000);
    const s = await metrics();
    const actions: Record<string, number> = {
      add_client: 3,
      remove_client: 1,
      add_subscription: 3,
      remove_subscription: 1,
      broker_subscribe: 3,
      broker_unsubscribe: 1,
      add_presence: 2,
      remove_presence: 1,
      presence: 2,
      presence_stats: 2,
      // The first subscribe's position, the recovery, the cache recovery, the client's and the API's reads.
      history: 5,
      history_stream_top: 1,
      history_recover: 1,
      history_recover_cache: 1,
      history_remove: 1,
      survey: 1,
    };
    for (const [action, want] of Object.entries(actions)) assert.equal(value(s, 'centrifugo_node_action_count', { action, ...ns }), want, action);
    assert.equal(s.filter((x) => x.name === 'centrifugo_node_action_count').length, Object.keys(actions).length, 'no other action');

    const expect: [string, Record<string, string>, number][] = [
      ['centrifugo_broker_publish_suppressed_count', { reason: 'idempotency', ...ns }, 1],
      ['centrifugo_broker_publish_suppressed_count', { reason: 'version', ...ns }, 1],
      ['centrifugo_node_survey_duration_seconds_count', { op: 'channels' }, 1],
      ['centrifugo_node_survey_duration_seconds_histogram_count', { op: 'channels' }, 1],
      ['centrifugo_node_survey_duration_seconds_histogram_bucket', { op: 'channels', le: '10' }, 1],
      ['centrifugo_client_recover', { recovered: 'yes', has_recovered_publications: 'yes', ...ns }, 1],
      ['centrifugo_client_recovered_publications_count', ns, 1],
      ['centrifugo_client_recovered_publications_sum', ns, 3],
      ['centrifugo_client_recovered_publications_bucket', { ...ns, le: '2' }, 0],
      ['centrifugo_client_recovered_publications_bucket', { ...ns, le: '3' }, 1],
      ['centrifugo_node_incoming_http_requests_total', http('/api/presence', 'POST', 200), 1],
      ['centrifugo_node_incoming_http_requests_total', http('/api/presence_stats', 'POST', 200), 1],
      ['centrifugo_node_incoming_http_requests_total', http('/api/history', 'POST', 200), 1],
      ['centrifugo_node_incoming_http_requests_total', http('/api/history_remove', 'POST', 200), 1],
      ['centrifugo_node_incoming_http_requests_total', http('/api/channels', 'POST', 200), 1],
      ['centrifugo_node_incoming_http_requests_total', http('/connection/websocket', 'GET', 101), 3],
      ['centrifugo_node_incoming_http_requests_total', http('/health', 'GET', 200), 2],
      ['centrifugo_node_incoming_http_requests_total', http('other', 'GET', 404), 2],
      ['centrifugo_node_incoming_http_requests_total', http('other', 'POST', 404), 1],
    ];
    for (const [name, labels, want] of expect) assert.equal(value(s, name, labels), want, `${name}${JSON.stringify(labels)}`);
    assert.ok((value(s, 'centrifugo_node_incoming_http_requests_total', http('/metrics', 'GET', 200)) ?? 0) >= 1, 'scrapes are counted');
    const paths = new Set(s.filter((x) => x.name === 'centrifugo_node_incoming_http_requests_total').map((x) => x.labels.path));
    assert.ok(!paths.has('/nope') && !paths.has('/api/nope'), 'request paths are never labels');
  });
});
