/**
 * A labelled family of native histograms that lives in a prom-client registry next to the
 * ordinary metrics. In the text format (and for the Graphite export) each series shows what
 * a histogram without classic buckets shows: `_bucket{le="+Inf"}`, `_sum` and `_count`; the
 * buckets themselves travel only in the protobuf exposition (see exposition.ts).
 */
import type { Metric, Registry } from 'prom-client';
import { NativeHistogram, type NativeHistogramOptions, type NativeHistogramSnapshot } from './native-histogram.js';

export interface NativeHistogramVecConfig<T extends string> extends NativeHistogramOptions {
  name: string;
  help: string;
  labelNames: readonly T[];
  registers: Registry[];
}

/** One series: its label values and its histogram. */
export interface NativeSeries {
  labels: Record<string, string>;
  histogram: NativeHistogram;
}

interface FlatValue {
  metricName: string;
  labels: Record<string, string>;
  value: number;
}

export class NativeHistogramVec<T extends string = string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly T[];
  /** One entry per label-value combination observed (as many as the label values allow). */
  private readonly series = new Map<string, NativeSeries>();

  constructor(private readonly cfg: NativeHistogramVecConfig<T>) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = cfg.labelNames;
    new NativeHistogram(cfg); // validates the options at once
    for (const r of cfg.registers) r.registerMetric(this as unknown as Metric);
  }

  observe(labels: Partial<Record<T, string | number>>, value: number): void {
    let key = '';
    for (const n of this.labelNames) {
      const v = String(labels[n] ?? '');
      key += `${v.length}:${v}`; // length-prefixed: no two label sets share a key
    }
    let s = this.series.get(key);
    if (!s) {
      const values: Record<string, string> = {};
      for (const n of this.labelNames) values[n] = String(labels[n] ?? '');
      s = { labels: values, histogram: new NativeHistogram(this.cfg) };
      this.series.set(key, s);
    }
    s.histogram.observe(value);
  }

  /** The series with a snapshot each, in creation order. */
  snapshots(): { labels: Record<string, string>; snapshot: NativeHistogramSnapshot }[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, snapshot: s.histogram.snapshot() }));
  }

  /** prom-client's view: the flat values of the text format. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: FlatValue[] }> {
    const values: FlatValue[] = [];
    for (const { labels, snapshot } of this.snapshots()) {
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: snapshot.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: snapshot.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: snapshot.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}
