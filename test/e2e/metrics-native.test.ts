/**
 * `prometheus.native_histograms` on a real Gyre process: the metrics endpoint answers a scrape
 * that asks for protobuf with every metric family (read back by an independent wire reader),
 * histograms as native histograms (schema 3, zero bucket, spans and deltas, no classic
 * buckets), no summaries; plain scrapes keep the text format with count and sum. With the flag
 * off the endpoint always answers text with classic buckets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiCall } from '../helpers/api.js';
import { METRIC_TYPE, decodeMetricFamilies, nativeBuckets, type DecodedFamily } from '../helpers/metric-family.js';
import { RawClient } from '../helpers/raw-ws.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';

const API_KEY = 'metrics-native-key';
const PROTO_ACCEPT = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const N = 7;

describe('native histograms over the protobuf exposition', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let classic: GyreProcess;

  before(async () => {
    const config = (native: boolean) => ({
      client: { insecure: true },
      http_api: { key: API_KEY },
      prometheus: { enabled: true, native_histograms: native },
    });
    [gyre, classic] = await Promise.all([startGyre(config(true)), startGyre(config(false))]);
    for (const g of [gyre, classic]) {
      for (let i = 0; i < N; i++) assert.equal((await apiCall(g.apiUrl, API_KEY, 'publish', { channel: `c${i}`, data: { i } })).status, 200);
      assert.equal((await apiCall(g.apiUrl, API_KEY, 'publish', { channel: 'nope:x', data: {} })).body.error.code, 102);
      const c = await RawClient.open(g.wsUrl);
      c.sendRaw(JSON.stringify({ id: 1, connect: {} }));
      await c.reply(1);
      await c.close();
    }
  });
  after(async () => {
    await Promise.all([gyre?.stop(), classic?.stop()]);
  });

  const scrapeProto = async (g: GyreProcess): Promise<DecodedFamily[]> => {
    const res = await fetch(`${g.base}/metrics`, { headers: { accept: PROTO_ACCEPT } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited');
    return decodeMetricFamilies(Buffer.from(await res.arrayBuffer()));
  };

  it('every family in protobuf; histograms native with all observations in their buckets; no summaries', async () => {
    const families = await scrapeProto(gyre);
    const byName = new Map(families.map((f) => [f.name, f]));
    for (const gone of ['centrifugo_api_command_duration_seconds', 'centrifugo_client_command_duration_seconds', 'centrifugo_proxy_duration_seconds']) {
      assert.equal(byName.has(gone), false, `summary ${gone} is not served`);
    }
    assert.equal(families.filter((f) => f.type === METRIC_TYPE.SUMMARY).length, 0);
    assert.equal(byName.get('centrifugo_node_build')?.type, METRIC_TYPE.GAUGE);
    assert.equal(byName.get('process_cpu_user_seconds_total')?.type, METRIC_TYPE.COUNTER);
    const errors = byName.get('centrifugo_api_command_errors_total');
    assert.equal(errors?.type, METRIC_TYPE.COUNTER);
    assert.deepEqual(
      errors?.metrics.map((m) => [m.labels, m.counter]),
      [[{ error: '102', method: 'publish', protocol: 'http' }, 1]],
    );

    const api = byName.get('centrifugo_api_command_duration_seconds_histogram');
    assert.equal(api?.type, METRIC_TYPE.HISTOGRAM);
    const series = api?.metrics.find((m) => m.labels.method === 'publish' && m.labels.protocol === 'http');
    const h = series?.histogram;
    assert.ok(h, 'publish series');
    assert.equal(h.sampleCount, N + 1);
    assert.equal(h.schema, 3, 'bucket factor 1.1 → schema 3');
    assert.equal(h.zeroThreshold, 2 ** -128);
    assert.deepEqual(h.buckets, [], 'no classic buckets');
    const buckets = nativeBuckets(h.positiveSpans, h.positiveDeltas);
    const inBuckets = [...buckets.values()].reduce((a, b) => a + b, 0) + (h.zeroCount ?? 0) + [...nativeBuckets(h.negativeSpans, h.negativeDeltas).values()].reduce((a, b) => a + b, 0);
    assert.equal(inBuckets, N + 1, 'every observation is in a bucket');
    // Durations are positive and well under a minute: buckets below 2^(48/8) = 64 s.
    for (const index of buckets.keys()) assert.ok(index < 48, `bucket ${index}`);
    assert.ok(h.sampleSum !== undefined && h.sampleSum > 0 && h.sampleSum < 60);
    assert.ok(h.createdMs !== undefined && Math.abs(h.createdMs - Date.now()) < 120_000, 'created time');

    const gyreHistograms = families.filter((f) => f.type === METRIC_TYPE.HISTOGRAM && f.name.startsWith('centrifugo_'));
    assert.ok(gyreHistograms.length >= 2);
    for (const f of gyreHistograms) for (const m of f.metrics) assert.equal(m.histogram?.schema, 3, f.name);
    const connect = byName.get('centrifugo_client_command_duration_seconds_histogram')?.metrics.find((m) => m.labels.method === 'connect');
    assert.equal(connect?.histogram?.sampleCount, 1);
  });

  it('a plain scrape gets text: count and sum with only the +Inf bucket; HEAD gets the protobuf headers alone', async () => {
    const text = await (await fetch(`${gyre.base}/metrics`)).text();
    const name = 'centrifugo_api_command_duration_seconds_histogram';
    const lines = text.split('\n').filter((l) => l.startsWith(`${name}_`) && l.includes('method="publish"'));
    assert.deepEqual(lines, [`${name}_bucket{protocol="http",method="publish",le="+Inf"} ${N + 1}`, lines[1], `${name}_count{protocol="http",method="publish"} ${N + 1}`]);
    assert.match(lines[1] as string, new RegExp(`^${name}_sum\\{protocol="http",method="publish"\\} [0-9.e-]+$`));
    const head = await fetch(`${gyre.base}/metrics`, { method: 'HEAD', headers: { accept: PROTO_ACCEPT } });
    assert.match(head.headers.get('content-type') ?? '', /^application\/vnd\.google\.protobuf; proto=io\.prometheus\.client\.MetricFamily; encoding=delimited$/);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it('with the flag off the answer stays text with classic buckets and the summaries', async () => {
    const res = await fetch(`${classic.base}/metrics`, { headers: { accept: PROTO_ACCEPT } });
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^centrifugo_api_command_duration_seconds_histogram_bucket\{le="0\.005",protocol="http",method="publish"\} \d+$/m);
    assert.match(text, new RegExp(`^centrifugo_api_command_duration_seconds_histogram_count\\{protocol="http",method="publish"\\} ${N + 1}$`, 'm'));
    assert.match(text, /^# TYPE centrifugo_api_command_duration_seconds summary$/m);
    assert.match(text, /^# TYPE centrifugo_client_command_duration_seconds summary$/m);
  });
});
