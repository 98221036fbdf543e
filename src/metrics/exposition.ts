/**
 * The protobuf exposition format of a metrics registry: the scraper's Accept header picks it,
 * and the answer is every metric family as a varint-length-delimited
 * io.prometheus.client.MetricFamily message (proto/metrics.proto). Counters, gauges,
 * summaries and classic histograms come from prom-client's values; native histograms
 * (NativeHistogramVec) carry their schema, zero bucket and sparse buckets.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Registry } from 'prom-client';
import type { NativeHistogramSnapshot } from './native-histogram.js';
import { NativeHistogramVec } from './native-histogram-vec.js';

/** proto/metrics.proto of the installed package (this file compiles to dist/src/metrics/). */
export const metricsProtoPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'proto', 'metrics.proto');

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

/** MetricType numbers of the protobuf model. */
const TYPE = { counter: 0, gauge: 1, summary: 2, untyped: 3, histogram: 4 } as const;

/**
 * Whether an Accept header asks for the delimited protobuf format before plain text. Offers
 * are taken by decreasing q (ties in order); the first one that is the protobuf format or
 * text/plain (version 0.0.4 or none) decides; nothing suitable means text.
 */
export function acceptsProtobuf(accept: string | undefined): boolean {
  if (!accept) return false;
  const offers = accept.split(',').map((part, i) => {
    const [type = '', ...rest] = part.split(';').map((s) => s.trim());
    // No prototype: a peer's parameter names ("__proto__", "constructor") are plain keys here.
    const params: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      if (eq > 0) params[kv.slice(0, eq).trim().toLowerCase()] = kv.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    }
    const q = params.q === undefined ? 1 : Number(params.q);
    return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, i };
  });
  offers.sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { type, params, q } of offers) {
    if (q <= 0) continue;
    if (type === 'application/vnd.google.protobuf' && params.proto === 'io.prometheus.client.MetricFamily' && params.encoding === 'delimited') return true;
    if (type === 'text/plain' && (params.version === undefined || params.version === '0.0.4')) return false;
  }
  return false;
}

let familyType: protobuf.Type | undefined;
/** The MetricFamily type, loaded on first use. */
export function metricFamilyType(): protobuf.Type {
  familyType ??= new protobuf.Root().loadSync(metricsProtoPath, { keepCase: true }).lookupType('io.prometheus.client.MetricFamily');
  return familyType;
}

type Labels = Record<string, string | number | undefined>;
interface FlatValue {
  value: number;
  labels?: Labels;
  metricName?: string;
}
interface LabelPair {
  name: string;
  value: string;
}
/** A MetricFamily as a plain object with the proto's field names. */
export interface FamilyMessage {
  name: string;
  help: string;
  type: number;
  metric: Record<string, unknown>[];
}

/** Every metric of the registry as MetricFamily messages, length-delimited, in one buffer. */
export async function encodeRegistry(registry: Registry): Promise<Buffer> {
  const families = await registryFamilies(registry);
  const writer = protobuf.Writer.create();
  const type = metricFamilyType();
  for (const f of families) type.encodeDelimited(f, writer);
  return Buffer.from(writer.finish());
}

/** The registry's metric families (those with at least one series), in registration order. */
export async function registryFamilies(registry: Registry): Promise<FamilyMessage[]> {
  // Started in order, as prom-client does: sampled metrics rely on their collect order.
  const items = await Promise.all(
    registry.getMetricsAsArray().map((m) => {
      const metric = m as unknown;
      if (metric instanceof NativeHistogramVec) return { native: metric, series: metric.snapshots() };
      return (metric as { get(): Promise<{ name: string; help: string; type: unknown; values: FlatValue[] }> }).get();
    }),
  );
  const out: FamilyMessage[] = [];
  for (const item of items) {
    const family =
      'native' in item
        ? { name: item.native.name, help: item.native.help, type: TYPE.histogram, metric: item.series.map((s) => ({ label: labelPairs(s.labels), histogram: nativeHistogram(s.snapshot) })) }
        : flatFamily(item.name, item.help, String(item.type), item.values);
    if (family.metric.length > 0) out.push(family);
  }
  return out;
}

function labelPairs(labels: Labels | undefined, skip?: string): LabelPair[] {
  const out: LabelPair[] = [];
  for (const [name, v] of Object.entries(labels ?? {})) if (name !== skip && v !== undefined) out.push({ name, value: String(v) });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function timestamp(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

function nativeHistogram(s: NativeHistogramSnapshot): Record<string, unknown> {
  const h: Record<string, unknown> = {
    sample_count: s.count,
    sample_sum: s.sum,
    created_timestamp: timestamp(s.createdMs),
    schema: s.schema,
    zero_threshold: s.zeroThreshold,
    zero_count: s.zeroCount,
    negative_span: s.negativeSpans,
    negative_delta: s.negativeDeltas,
    positive_span: s.positiveSpans,
    positive_delta: s.positiveDeltas,
  };
  // Without observations and with a zero-width zero bucket, one empty span marks the histogram as native.
  if (s.zeroThreshold === 0 && s.zeroCount === 0 && s.positiveSpans.length === 0 && s.negativeSpans.length === 0) h.positive_span = [{ offset: 0, length: 0 }];
  return h;
}

/** A family from prom-client's flat values: one Metric per label set (le and quantile folded in). */
function flatFamily(name: string, help: string, type: string, values: FlatValue[]): FamilyMessage {
  if (type === 'counter' || type === 'gauge') {
    return { name, help, type: TYPE[type], metric: values.map((v) => ({ label: labelPairs(v.labels), [type]: { value: v.value } })) };
  }
  if (type !== 'histogram' && type !== 'summary') {
    return { name, help, type: TYPE.untyped, metric: values.map((v) => ({ label: labelPairs(v.labels), untyped: { value: v.value } })) };
  }
  const inner = type === 'histogram' ? 'le' : 'quantile';
  const series = new Map<string, { label: LabelPair[]; count: number; sum: number; parts: { at: number; value: number }[] }>();
  for (const v of values) {
    const label = labelPairs(v.labels, inner);
    const key = JSON.stringify(label);
    let s = series.get(key);
    if (!s) series.set(key, (s = { label, count: 0, sum: 0, parts: [] }));
    if (v.metricName === `${name}_count`) s.count = v.value;
    else if (v.metricName === `${name}_sum`) s.sum = v.value;
    else {
      const raw = v.labels?.[inner];
      const at = raw === '+Inf' ? Infinity : Number(raw);
      // The +Inf bucket is implied by the count.
      if (!(type === 'histogram' && at === Infinity)) s.parts.push({ at, value: v.value });
    }
  }
  const metric = [...series.values()].map((s) =>
    type === 'histogram'
      ? { label: s.label, histogram: { sample_count: s.count, sample_sum: s.sum, bucket: s.parts.map((p) => ({ cumulative_count: p.value, upper_bound: p.at })) } }
      : { label: s.label, summary: { sample_count: s.count, sample_sum: s.sum, quantile: s.parts.map((p) => ({ quantile: p.at, value: p.value })) } },
  );
  return { name, help, type: TYPE[type], metric };
}
