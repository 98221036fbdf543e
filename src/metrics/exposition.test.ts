/**
 * The protobuf exposition: Accept negotiation, and a registry with every kind of metric
 * encoded and read back by an independent wire reader (test/helpers/metric-family.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { METRIC_TYPE, decodeMetricFamilies, nativeBuckets } from '../../test/helpers/metric-family.js';
import { acceptsProtobuf, encodeRegistry } from './exposition.js';
import { NativeHistogramVec } from './native-histogram-vec.js';

const PROTO = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited';

describe('protobuf exposition: Accept negotiation', () => {
  it('survives random Accept headers: always a boolean, and a leading protobuf offer at q=1 always wins', () => {
    const pieces = [',', ';', '=', '"', ' ', 'q', '0', '1', '.', '-', 'e', '9', 'NaN', '__proto__', 'constructor', 'proto', 'encoding', 'delimited', 'text/plain', 'version', '0.0.4', '*/*', PROTO];
    let seed = 0x9e3779b9;
    const rand = (n: number): number => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 5000; round++) {
      let header = '';
      const len = rand(40);
      for (let k = 0; k < len; k++) header += pieces[rand(pieces.length)];
      assert.equal(typeof acceptsProtobuf(header), 'boolean', header);
      assert.equal(acceptsProtobuf(`${PROTO},${header}`), true, header);
    }
  });

  it('picks the delimited protobuf format only when it is preferred to plain text', () => {
    // Prometheus 2.x with native histograms enabled.
    assert.equal(acceptsProtobuf(`${PROTO},application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`), true);
    assert.equal(acceptsProtobuf(PROTO), true);
    assert.equal(acceptsProtobuf(`text/plain;version=0.0.4;q=0.5, ${PROTO};q=0.7`), true);
    assert.equal(acceptsProtobuf('application/vnd.google.protobuf; proto="io.prometheus.client.MetricFamily"; encoding=delimited'), true);
    assert.equal(acceptsProtobuf(`text/plain;version=0.0.4;q=0.7,${PROTO};q=0.5`), false);
    assert.equal(acceptsProtobuf(`text/plain,${PROTO}`), false, 'equal q: the first wins');
    assert.equal(acceptsProtobuf(`${PROTO};q=0,text/plain`), false);
    assert.equal(acceptsProtobuf('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text'), false);
    assert.equal(acceptsProtobuf('application/vnd.google.protobuf;encoding=delimited'), false);
    assert.equal(acceptsProtobuf(`text/plain;version=1.0.0,${PROTO};q=0.5`), true, 'an unknown text version is skipped');
    for (const other of [undefined, '', '*/*', 'application/openmetrics-text;version=1.0.0', 'text/html']) assert.equal(acceptsProtobuf(other), false);
  });
});

describe('protobuf exposition: encoding', () => {
  it('counters, gauges, summaries, classic and native histograms, read back field by field', async () => {
    const r = new Registry();
    const counter = new Counter({ name: 'g_requests_total', help: 'Requests.', labelNames: ['code', 'path'], registers: [r] });
    new Counter({ name: 'g_unused_total', help: 'Never incremented.', labelNames: ['x'], registers: [r] });
    const gauge = new Gauge({ name: 'g_temperature', help: 'Gauge "help" with \\ and\nnewline.', registers: [r] });
    const classic = new Histogram({ name: 'g_classic_seconds', help: 'Classic.', labelNames: ['m'], buckets: [0.1, 1], registers: [r] });
    const summary = new Summary({ name: 'g_summary_seconds', help: 'Summary.', percentiles: [0.5, 0.99], registers: [r] });
    const native = new NativeHistogramVec({
      name: 'g_native_seconds',
      help: 'Native.',
      labelNames: ['m'],
      registers: [r],
      bucketFactor: 1.1,
      maxBuckets: 200,
      minResetMs: 3_600_000,
      now: () => 1_700_000_000_123,
    });
    counter.inc({ code: '200', path: '/a' }, 3);
    counter.inc({ code: '500', path: 'ё' });
    gauge.set(-2.5);
    for (const v of [0.05, 0.5, 5]) classic.observe({ m: 'x' }, v);
    for (const v of [1, 2, 3]) summary.observe(v);
    for (const v of [1, 1, 3, -3, 0]) native.observe({ m: 'x' }, v);
    native.observe({ m: 'y' }, 0.001);

    const families = decodeMetricFamilies(await encodeRegistry(r));
    assert.deepEqual(
      families.map((f) => [f.name, f.type]),
      [
        ['g_requests_total', METRIC_TYPE.COUNTER],
        ['g_temperature', METRIC_TYPE.GAUGE],
        ['g_classic_seconds', METRIC_TYPE.HISTOGRAM],
        ['g_summary_seconds', METRIC_TYPE.SUMMARY],
        ['g_native_seconds', METRIC_TYPE.HISTOGRAM],
      ],
      'families without series are left out',
    );
    const [requests, temperature, classicF, summaryF, nativeF] = families as [any, any, any, any, any];
    assert.equal(requests.help, 'Requests.');
    assert.deepEqual(
      requests.metrics.map((m: any) => [m.labels, m.counter]),
      [
        [{ code: '200', path: '/a' }, 3],
        [{ code: '500', path: 'ё' }, 1],
      ],
    );
    assert.equal(temperature.help, 'Gauge "help" with \\ and\nnewline.', 'help as is: no text escaping');
    assert.deepEqual(temperature.metrics, [{ labels: {}, gauge: -2.5, counter: undefined, untyped: undefined }]);

    const ch = classicF.metrics[0].histogram;
    assert.deepEqual(classicF.metrics[0].labels, { m: 'x' });
    assert.deepEqual([ch.sampleCount, ch.sampleSum], [3, 5.55]);
    assert.deepEqual(ch.buckets, [
      { cumulativeCount: 1, upperBound: 0.1 },
      { cumulativeCount: 2, upperBound: 1 },
    ]);
    assert.equal(ch.schema, undefined, 'a classic histogram has no schema');
    assert.equal(ch.zeroThreshold, undefined);

    const s = summaryF.metrics[0].summary;
    assert.deepEqual([s.sampleCount, s.sampleSum], [3, 6]);
    assert.deepEqual(
      s.quantiles.map(([q]: [number, number]) => q),
      [0.5, 0.99],
    );
    assert.equal(s.quantiles[0][1], 2);

    assert.deepEqual(
      nativeF.metrics.map((m: any) => m.labels),
      [{ m: 'x' }, { m: 'y' }],
    );
    const nx = nativeF.metrics[0].histogram;
    assert.deepEqual([nx.sampleCount, nx.sampleSum, nx.schema, nx.zeroThreshold, nx.zeroCount], [5, 2, 3, 2 ** -128, 1]);
    assert.deepEqual(nx.buckets, [], 'no classic buckets');
    // 1 → bucket 0 (twice), 3 → bucket 13; -3 → negative bucket 13.
    assert.deepEqual(nx.positiveSpans, [
      { offset: 0, length: 1 },
      { offset: 12, length: 1 },
    ]);
    assert.deepEqual(nx.positiveDeltas, [2, -1]);
    assert.deepEqual(nx.negativeSpans, [{ offset: 13, length: 1 }]);
    assert.deepEqual(nx.negativeDeltas, [1]);
    assert.deepEqual(
      [...nativeBuckets(nx.positiveSpans, nx.positiveDeltas)],
      [
        [0, 2],
        [13, 1],
      ],
    );
    assert.equal(nx.createdMs, 1_700_000_000_123);
    // 0.001 → 8·log2(0.001) = -79.73 → bucket -79.
    assert.deepEqual(nativeF.metrics[1].histogram.positiveSpans, [{ offset: -79, length: 1 }]);
  });

  it('the text format shows native histograms as count and sum with the +Inf bucket only', async () => {
    const r = new Registry();
    const native = new NativeHistogramVec({ name: 'g_native_seconds', help: 'Native.', labelNames: ['m'], registers: [r], bucketFactor: 1.1, maxBuckets: 200, minResetMs: 0, now: () => 0 });
    native.observe({ m: 'x' }, 0.25);
    native.observe({ m: 'x' }, 0.5);
    const text = await r.metrics();
    assert.equal(
      text,
      [
        '# HELP g_native_seconds Native.',
        '# TYPE g_native_seconds histogram',
        'g_native_seconds_bucket{m="x",le="+Inf"} 2',
        'g_native_seconds_sum{m="x"} 0.75',
        'g_native_seconds_count{m="x"} 2',
        '',
      ].join('\n'),
    );
    // Label values that would run together stay separate series.
    const two = new NativeHistogramVec({ name: 'g_two', help: 'h', labelNames: ['a', 'b'], registers: [r], bucketFactor: 1.1, maxBuckets: 0, minResetMs: 0, now: () => 0 });
    two.observe({ a: 'x1', b: '' }, 1);
    two.observe({ a: 'x', b: '1' }, 1);
    assert.equal(two.snapshots().length, 2);
  });
});
