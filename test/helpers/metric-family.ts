/**
 * An independent reader of the Prometheus protobuf exposition (length-delimited
 * io.prometheus.client.MetricFamily messages), written against the field numbers of
 * Prometheus's metric model, not against Gyre's proto/metrics.proto: a wrong number there
 * shows up here as a missing or misread field.
 */

interface Field {
  no: number;
  /** Wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
  wt: number;
  varint?: bigint;
  bytes?: Buffer;
}

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    v |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [v, pos];
    shift += 7n;
  }
}

function readFields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = readVarint(buf, pos);
    pos = p;
    const no = Number(tag >> 3n);
    const wt = Number(tag & 7n);
    if (wt === 0) {
      const [v, p2] = readVarint(buf, pos);
      out.push({ no, wt, varint: v });
      pos = p2;
    } else if (wt === 1 || wt === 5) {
      const n = wt === 1 ? 8 : 4;
      out.push({ no, wt, bytes: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wt === 2) {
      const [len, p2] = readVarint(buf, pos);
      out.push({ no, wt, bytes: buf.subarray(p2, p2 + Number(len)) });
      pos = p2 + Number(len);
    } else {
      throw new Error(`unexpected wire type ${wt}`);
    }
  }
  if (pos !== buf.length) throw new Error('message overruns its length');
  return out;
}

const zigzag = (v: bigint): number => Number((v >> 1n) ^ -(v & 1n));
const str = (f: Field): string => (f.bytes as Buffer).toString('utf8');
const dbl = (f: Field): number => {
  if (f.wt !== 1) throw new Error(`field ${f.no}: a double must be fixed64, got wire type ${f.wt}`);
  return (f.bytes as Buffer).readDoubleLE(0);
};
const uint = (f: Field): number => {
  if (f.wt !== 0) throw new Error(`field ${f.no}: expected a varint, got wire type ${f.wt}`);
  return Number(f.varint);
};
const sint = (f: Field): number => {
  if (f.wt !== 0) throw new Error(`field ${f.no}: expected a varint, got wire type ${f.wt}`);
  return zigzag(f.varint as bigint);
};
/** Repeated varints, packed or not. */
function varints(fields: Field[], no: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields.filter((x) => x.no === no)) {
    if (f.wt === 0) out.push(f.varint as bigint);
    else {
      const b = f.bytes as Buffer;
      for (let pos = 0; pos < b.length; ) {
        const [v, p] = readVarint(b, pos);
        out.push(v);
        pos = p;
      }
    }
  }
  return out;
}
const one = (fields: Field[], no: number): Field | undefined => fields.filter((f) => f.no === no).at(-1);
const sub = (fields: Field[], no: number): Field[] | undefined => {
  const f = one(fields, no);
  return f ? readFields(f.bytes as Buffer) : undefined;
};

export interface Span {
  offset: number;
  length: number;
}
export interface DecodedHistogram {
  sampleCount?: number;
  sampleSum?: number;
  buckets: { cumulativeCount: number; upperBound: number }[];
  createdMs?: number;
  schema?: number;
  zeroThreshold?: number;
  zeroCount?: number;
  negativeSpans: Span[];
  negativeDeltas: number[];
  positiveSpans: Span[];
  positiveDeltas: number[];
}
export interface DecodedMetric {
  labels: Record<string, string>;
  counter?: number;
  gauge?: number;
  untyped?: number;
  summary?: { sampleCount?: number; sampleSum?: number; quantiles: [number, number][] };
  histogram?: DecodedHistogram;
}
export interface DecodedFamily {
  name: string;
  help: string;
  /** COUNTER 0, GAUGE 1, SUMMARY 2, UNTYPED 3, HISTOGRAM 4. */
  type: number;
  metrics: DecodedMetric[];
}
export const METRIC_TYPE = { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4 } as const;

const spans = (fields: Field[], no: number): Span[] =>
  fields
    .filter((f) => f.no === no)
    .map((f) => {
      const s = readFields(f.bytes as Buffer);
      const offset = one(s, 1);
      const length = one(s, 2);
      return { offset: offset ? sint(offset) : 0, length: length ? uint(length) : 0 };
    });

function histogram(h: Field[]): DecodedHistogram {
  const get = <T>(no: number, read: (f: Field) => T): T | undefined => {
    const f = one(h, no);
    return f ? read(f) : undefined;
  };
  const created = sub(h, 15);
  let createdMs: number | undefined;
  if (created) {
    const s = one(created, 1);
    const n = one(created, 2);
    createdMs = (s ? uint(s) : 0) * 1000 + (n ? uint(n) : 0) / 1e6;
  }
  return {
    sampleCount: get(1, uint),
    sampleSum: get(2, dbl),
    buckets: h
      .filter((f) => f.no === 3)
      .map((f) => {
        const b = readFields(f.bytes as Buffer);
        const c = one(b, 1);
        const u = one(b, 2);
        return { cumulativeCount: c ? uint(c) : 0, upperBound: u ? dbl(u) : 0 };
      }),
    createdMs,
    schema: get(5, sint),
    zeroThreshold: get(6, dbl),
    zeroCount: get(7, uint),
    negativeSpans: spans(h, 9),
    negativeDeltas: varints(h, 10).map(zigzag),
    positiveSpans: spans(h, 12),
    positiveDeltas: varints(h, 13).map(zigzag),
  };
}

function metric(m: Field[]): DecodedMetric {
  const labels: Record<string, string> = {};
  for (const f of m.filter((x) => x.no === 1)) {
    const pair = readFields(f.bytes as Buffer);
    const n = one(pair, 1);
    const v = one(pair, 2);
    labels[n ? str(n) : ''] = v ? str(v) : '';
  }
  const out: DecodedMetric = { labels };
  const value = (no: number): number | undefined => {
    const s = sub(m, no);
    if (!s) return undefined;
    const v = one(s, 1);
    return v ? dbl(v) : 0;
  };
  out.gauge = value(2);
  out.counter = value(3);
  out.untyped = value(5);
  const summary = sub(m, 4);
  if (summary) {
    const c = one(summary, 1);
    const s = one(summary, 2);
    out.summary = {
      sampleCount: c ? uint(c) : undefined,
      sampleSum: s ? dbl(s) : undefined,
      quantiles: summary
        .filter((f) => f.no === 3)
        .map((f) => {
          const q = readFields(f.bytes as Buffer);
          const a = one(q, 1);
          const b = one(q, 2);
          return [a ? dbl(a) : 0, b ? dbl(b) : 0];
        }),
    };
  }
  const h = sub(m, 7);
  if (h) out.histogram = histogram(h);
  return out;
}

/** Every MetricFamily of a delimited stream. */
export function decodeMetricFamilies(buf: Buffer): DecodedFamily[] {
  const out: DecodedFamily[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [len, p] = readVarint(buf, pos);
    const end = p + Number(len);
    if (end > buf.length) throw new Error('truncated MetricFamily');
    const f = readFields(buf.subarray(p, end));
    const name = one(f, 1);
    const help = one(f, 2);
    const type = one(f, 3);
    out.push({ name: name ? str(name) : '', help: help ? str(help) : '', type: type ? uint(type) : 0, metrics: f.filter((x) => x.no === 4).map((x) => metric(readFields(x.bytes as Buffer))) });
    pos = end;
  }
  return out;
}

/** Absolute bucket counts from spans and deltas: index → count. */
export function nativeBuckets(spansIn: Span[], deltas: number[]): Map<number, number> {
  const out = new Map<number, number>();
  let index = 0;
  let count = 0;
  let d = 0;
  spansIn.forEach((s, n) => {
    index = n === 0 ? s.offset : index + s.offset;
    for (let k = 0; k < s.length; k++) {
      count += deltas[d++] ?? Number.NaN;
      if (count !== 0) out.set(index, count);
      index++;
    }
  });
  if (d !== deltas.length) throw new Error(`spans cover ${d} buckets, ${deltas.length} deltas`);
  return out;
}
