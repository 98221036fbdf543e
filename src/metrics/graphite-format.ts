/**
 * Turns a prom-client registry snapshot into Graphite plaintext lines with Centrifugo's path
 * scheme (server.md §7.7): `<prefix>.<namespace>.<subsystem>.<rest of the name>[.<value
 * name>][.<label>.<value>...] <value> <unix seconds>`, or with `;label=value` tags instead of
 * label path components in tagged mode. Counters and the sum/count of summaries and histograms
 * are sent as the increase since the previous push, so the formatter keeps the last totals.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** One family of a prom-client snapshot (`Registry.getMetricsAsJSON()`). */
export type MetricFamily = MetricObjectWithValues<MetricValue<string> & { metricName?: string }>;

type Label = [name: string, value: string];

const nonAscii = /[^\x00-\x7F]/gu;
/** Whitespace and control characters end a plaintext line's fields: never let a label value carry one. */
const lineBreakers = /[\x00-\x20\x7F]/g;

/** A node name or other free text as one path component: non-ASCII characters and dots become `_`. */
export function graphitePathComponent(s: string): string {
  return s.replace(nonAscii, '_').replaceAll('.', '_');
}

/** The path prefix of one node: the configured prefix without a trailing dot, then the node name. */
export function graphitePrefix(prefix: string, nodeName: string): string {
  return `${prefix.endsWith('.') ? prefix.slice(0, -1) : prefix}.${graphitePathComponent(nodeName)}`;
}

/**
 * Formats snapshots into line batches. Stateful: counters, and the sum and count of summaries
 * and histograms, are reported as deltas against the previous `format` call (the first call
 * reports the totals); the state holds only the series of the latest snapshot.
 */
export class GraphiteFormatter {
  private previous = new Map<string, number>();
  private current = new Map<string, number>();

  constructor(
    private readonly prefix: string,
    private readonly tags: boolean,
  ) {}

  /** All lines of one snapshot, each ending in `\n`, stamped with `unixSec`. */
  format(families: readonly MetricFamily[], unixSec: number): string {
    this.current = new Map();
    const out: string[] = [];
    const sorted = [...families].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const family of sorted) this.family(family, unixSec, out);
    this.previous = this.current;
    return out.join('');
  }

  private family(f: MetricFamily, ts: number, out: string[]): void {
    const path = [this.prefix, ...nameParts(f.name)];
    const type = String(f.type);
    if (type === 'counter') {
      for (const v of f.values) {
        const labels = labelsOf(v.labels);
        const delta = this.delta(f.name, labels, '', v.value);
        if (Number.isFinite(delta)) out.push(this.line(path, '', labels, String(Math.trunc(delta)), ts));
      }
    } else if (type === 'gauge') {
      for (const v of f.values) out.push(this.line(path, '', labelsOf(v.labels), goFloat(v.value), ts));
    } else if (type === 'summary' || type === 'histogram') {
      for (const s of seriesOf(f)) {
        out.push(this.line(path, 'sum', s.labels, goFloat(this.delta(f.name, s.labels, 'sum', s.sum)), ts));
        out.push(this.line(path, 'count', s.labels, goFloat(this.delta(f.name, s.labels, 'count', s.count)), ts));
        for (const [q, value] of s.quantiles) {
          if (!Number.isNaN(value)) out.push(this.line(path, `quantile.${quantileName(q)}`, s.labels, goFloat(value), ts));
        }
      }
    }
  }

  private delta(name: string, labels: Label[], suffix: string, total: number): number {
    const key = `${name}\x00${labels.map(([k, v]) => `${k}\x00${v}`).join('\x00')}\x00${suffix}`;
    const last = this.previous.get(key);
    this.current.set(key, total);
    return last === undefined ? total : total - last;
  }

  private line(path: string[], valueName: string, labels: Label[], value: string, ts: number): string {
    const parts = valueName === '' ? [...path] : [...path, valueName];
    let key: string;
    if (this.tags) {
      key = parts.join('.') + labels.map(([k, v]) => `;${k}=${v.replaceAll(';', '_')}`).join('');
    } else {
      for (const [k, v] of labels) parts.push(k, v);
      key = parts.join('.');
    }
    return `${key} ${value} ${ts}\n`;
  }
}

/** `centrifugo_client_connections_accepted` → centrifugo, client, connections_accepted (empty parts dropped). */
function nameParts(name: string): string[] {
  const words = name.split('_');
  const parts = [words[0] ?? '', words[1] ?? '', words.slice(2).join('_')];
  return parts.filter((p) => p !== '');
}

/** Label pairs sorted by name, empty values left out (as the Go client does). */
function labelsOf(labels: Record<string, string | number | undefined>, skip?: string): Label[] {
  const out: Label[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (k === skip || v === undefined || v === '') continue;
    out.push([k, String(v).replace(lineBreakers, '_')]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

interface Series {
  labels: Label[];
  sum: number;
  count: number;
  quantiles: [number, number][];
}

/** Groups the flat values of a summary or histogram by series; buckets are not exported. */
function seriesOf(f: MetricFamily): Series[] {
  const bySeries = new Map<string, Series>();
  const skip = String(f.type) === 'summary' ? 'quantile' : 'le';
  for (const v of f.values) {
    const labels = labelsOf(v.labels, skip);
    const key = labels.map(([k, val]) => `${k}\x00${val}`).join('\x00');
    let s = bySeries.get(key);
    if (!s) {
      s = { labels, sum: 0, count: 0, quantiles: [] };
      bySeries.set(key, s);
    }
    if (v.metricName === `${f.name}_sum`) s.sum = v.value;
    else if (v.metricName === `${f.name}_count`) s.count = v.value;
    else if (skip === 'quantile' && v.labels.quantile !== undefined) s.quantiles.push([Number(v.labels.quantile), v.value]);
  }
  return [...bySeries.values()];
}

/** 0.5 → 50, 0.99 → 99, 0.999 → 999: thousandths with one trailing zero dropped. */
function quantileName(q: number): string {
  const s = String(Math.trunc(q * 1000));
  return s.length > 2 && s.endsWith('0') ? s.slice(0, -1) : s;
}

/** Go's `%f`: six decimals, `NaN`, `+Inf`, `-Inf`, and no exponent for huge values. */
function goFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Math.abs(v) >= 1e21) return `${BigInt(Math.trunc(v)).toString()}.000000`;
  return v.toFixed(6);
}
