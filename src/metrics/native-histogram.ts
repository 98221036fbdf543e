/**
 * A Prometheus native histogram (sparse buckets with exponential boundaries) for one series.
 *
 * With schema s the boundaries are the powers of base = 2^(2^-s): bucket i counts the
 * observations v with base^(i-1) < v <= base^i (negative observations the same by absolute
 * value, in their own bucket set), and |v| <= zero threshold goes to the zero bucket. The
 * schema is the finest one whose base does not exceed the configured bucket factor. When
 * more than `maxBuckets` buckets are populated, the histogram is reset if the last reset is at
 * least `minResetMs` ago; otherwise the resolution halves (schema - 1, neighbouring buckets
 * merged) and a reset is due `minResetMs` after the last one, which restores the resolution.
 * A reset clears the count and sum too and moves the created time.
 *
 * Bucket boundaries are exact: the table of in-octave boundaries holds, for each, the largest
 * double not above the real boundary (checked with integer arithmetic), so an observation goes
 * to the bucket its real value belongs to.
 */

export const SCHEMA_MAX = 8;
export const SCHEMA_MIN = -4;
/** 2^-128, the zero bucket's width unless configured otherwise. */
export const DEFAULT_ZERO_THRESHOLD = 2 ** -128;

/** The finest schema (-4..8) whose bucket growth 2^(2^-schema) is at most `factor` (> 1). */
export function schemaForFactor(factor: number): number {
  if (!(factor > 1)) throw new RangeError(`native histogram bucket factor must be > 1, got ${factor}`);
  const floor = Math.floor(Math.log2(Math.log2(factor)));
  if (floor <= -SCHEMA_MAX) return SCHEMA_MAX;
  if (floor >= -SCHEMA_MIN) return SCHEMA_MIN;
  return 0 - floor; // not -floor: no -0
}

const view = new DataView(new ArrayBuffer(8));
const nextUp = (x: number): number => {
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
};
const nextDown = (x: number): number => {
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) - 1n);
  return view.getFloat64(0);
};

/** Whether x (in [0.5, 1)) is at most the real 2^(j / 2^s) / 2: x^(2^s) <= 2^(j - 2^s), in integers. */
function atMostBoundary(x: number, s: number, j: number): boolean {
  const n = 2n ** BigInt(s);
  const mantissa = BigInt(x * 2 ** 53); // exact: x = mantissa * 2^-53
  return mantissa ** n <= 1n << (BigInt(j) - n + 53n * n);
}

/** For schema s > 0: the largest double <= 2^(j / 2^s) / 2 for j = 0 .. 2^s - 1 (filled on first use). */
const boundaries: (Float64Array | undefined)[] = [];
function boundariesOf(s: number): Float64Array {
  let b = boundaries[s];
  if (b) return b;
  b = new Float64Array(2 ** s);
  for (let j = 0; j < b.length; j++) {
    let x = Math.pow(2, j / 2 ** s - 1);
    while (!atMostBoundary(x, s, j)) x = nextDown(x);
    for (let up = nextUp(x); up < 1 && atMostBoundary(up, s, j); up = nextUp(x)) x = up;
    b[j] = x;
  }
  boundaries[s] = b;
  return b;
}

/**
 * The bucket index of a positive value (an absolute value) at `schema`: the i with
 * base^(i-1) < v <= base^i. +Infinity goes one past the bucket of the largest double.
 */
export function bucketKey(v: number, schema: number): number {
  let inf = 0;
  if (v === Infinity) {
    v = Number.MAX_VALUE;
    inf = 1;
  }
  // frexp: v = frac * 2^exp with frac in [0.5, 1).
  view.setFloat64(0, v);
  let hi = view.getUint32(0);
  let biased = (hi >>> 20) & 0x7ff;
  let exp: number;
  if (biased === 0) {
    // Subnormal: scale into the normal range first.
    view.setFloat64(0, v * 2 ** 64);
    hi = view.getUint32(0);
    biased = (hi >>> 20) & 0x7ff;
    exp = biased - 1022 - 64;
  } else {
    exp = biased - 1022;
  }
  let key: number;
  if (schema > 0) {
    view.setUint32(0, (hi & 0x800fffff) | (1022 << 20));
    const frac = view.getFloat64(0);
    const b = boundariesOf(schema);
    let lo = 0;
    let hiIdx = b.length; // first index with b[index] >= frac, b.length when none
    while (lo < hiIdx) {
      const mid = (lo + hiIdx) >>> 1;
      if ((b[mid] as number) < frac) lo = mid + 1;
      else hiIdx = mid;
    }
    key = lo + (exp - 1) * b.length;
  } else {
    // An exact power of two (frac 0.5) is the upper bound of the bucket below.
    const powerOfTwo = (hi & 0xfffff) === 0 && view.getUint32(4) === 0;
    key = powerOfTwo ? exp - 1 : exp;
    const shift = -schema;
    key = (key + (1 << shift) - 1) >> shift;
  }
  return key + inf;
}

export interface BucketSpan {
  /** Gap to the previous span's end (for the first span: the index of its first bucket). */
  offset: number;
  length: number;
}

/**
 * Spans and deltas of populated buckets: buckets in index order, gaps of one or two empty
 * buckets filled with zeros inside a span, longer gaps starting a new span; each delta is a
 * bucket's count minus the previous bucket's (0 before the first).
 */
export function spansAndDeltas(buckets: ReadonlyMap<number, number>): { spans: BucketSpan[]; deltas: number[] } {
  const keys = [...buckets.keys()].sort((a, b) => a - b);
  const spans: BucketSpan[] = [];
  const deltas: number[] = [];
  let prev = 0;
  let next = 0;
  for (let n = 0; n < keys.length; n++) {
    const key = keys[n] as number;
    const gap = key - next;
    const span = spans[spans.length - 1];
    if (n === 0 || gap > 2 || !span) {
      spans.push({ offset: gap, length: 1 });
    } else {
      for (let k = 0; k < gap; k++) {
        deltas.push(0 - prev);
        prev = 0;
      }
      span.length += gap + 1;
    }
    const count = buckets.get(key) as number;
    deltas.push(count - prev);
    prev = count;
    next = key + 1;
  }
  return { spans, deltas };
}

export interface NativeHistogramOptions {
  /** Largest ratio between neighbouring bucket boundaries (> 1); picks the schema. */
  bucketFactor: number;
  /** Most populated buckets (positive and negative) before the resolution is reduced; 0 = no limit. */
  maxBuckets: number;
  /** Least time between resets made to bound the bucket count; 0 = never reset. */
  minResetMs: number;
  /** Width of the zero bucket (observations with |v| <= it); default 2^-128. */
  zeroThreshold?: number;
  /** Milliseconds since the epoch. */
  now: () => number;
}

export interface NativeHistogramSnapshot {
  count: number;
  sum: number;
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  positiveSpans: BucketSpan[];
  positiveDeltas: number[];
  negativeSpans: BucketSpan[];
  negativeDeltas: number[];
  /** When counting (re)started, ms since the epoch. */
  createdMs: number;
}

export class NativeHistogram {
  readonly initialSchema: number;
  readonly zeroThreshold: number;
  private schemaNow: number;
  private count = 0;
  private sum = 0;
  private zeroCount = 0;
  private positive = new Map<number, number>();
  private negative = new Map<number, number>();
  private lastResetMs: number;
  /** When a reset is due because the resolution was reduced; undefined when none is. */
  private resetDueMs: number | undefined;

  constructor(private readonly opts: NativeHistogramOptions) {
    this.initialSchema = schemaForFactor(opts.bucketFactor);
    this.schemaNow = this.initialSchema;
    this.zeroThreshold = opts.zeroThreshold ?? DEFAULT_ZERO_THRESHOLD;
    this.lastResetMs = opts.now();
  }

  get schema(): number {
    return this.schemaNow;
  }

  /** Populated buckets, positive and negative. */
  get bucketCount(): number {
    return this.positive.size + this.negative.size;
  }

  observe(v: number): void {
    if (this.resetDueMs !== undefined && this.opts.now() >= this.resetDueMs) this.reset();
    this.count++;
    this.sum += v;
    if (Number.isNaN(v)) return; // counted and summed, in no bucket
    if (this.addToBucket(v)) this.limitBuckets(v);
  }

  snapshot(): NativeHistogramSnapshot {
    if (this.resetDueMs !== undefined && this.opts.now() >= this.resetDueMs) this.reset();
    const pos = spansAndDeltas(this.positive);
    const neg = spansAndDeltas(this.negative);
    return {
      count: this.count,
      sum: this.sum,
      schema: this.schemaNow,
      zeroThreshold: this.zeroThreshold,
      zeroCount: this.zeroCount,
      positiveSpans: pos.spans,
      positiveDeltas: pos.deltas,
      negativeSpans: neg.spans,
      negativeDeltas: neg.deltas,
      createdMs: this.lastResetMs,
    };
  }

  /** Counts v in its bucket; true when that bucket is new. */
  private addToBucket(v: number): boolean {
    let buckets: Map<number, number>;
    if (v > this.zeroThreshold) buckets = this.positive;
    else if (v < -this.zeroThreshold) buckets = this.negative;
    else {
      this.zeroCount++;
      return false;
    }
    const key = bucketKey(Math.abs(v), this.schemaNow);
    const n = buckets.get(key);
    buckets.set(key, (n ?? 0) + 1);
    return n === undefined;
  }

  private limitBuckets(v: number): void {
    const { maxBuckets, minResetMs } = this.opts;
    if (maxBuckets <= 0 || this.bucketCount <= maxBuckets) return;
    const now = this.opts.now();
    if (minResetMs > 0 && this.resetDueMs === undefined && now - this.lastResetMs >= minResetMs) {
      // Start over, keeping the observation that overflowed.
      this.reset();
      this.count = 1;
      this.sum = v;
      this.addToBucket(v);
      return;
    }
    if (minResetMs > 0 && this.resetDueMs === undefined) this.resetDueMs = this.lastResetMs + minResetMs;
    this.halveResolution();
  }

  /** Schema - 1: bucket i of the finer schema falls in bucket ceil(i / 2) of the coarser one. */
  private halveResolution(): void {
    if (this.schemaNow <= SCHEMA_MIN) return;
    this.schemaNow--;
    const merge = (from: Map<number, number>): Map<number, number> => {
      const to = new Map<number, number>();
      for (const [key, n] of from) {
        const k = Math.ceil(key / 2) + 0; // + 0: no -0 keys
        to.set(k, (to.get(k) ?? 0) + n);
      }
      return to;
    };
    this.positive = merge(this.positive);
    this.negative = merge(this.negative);
  }

  private reset(): void {
    this.count = 0;
    this.sum = 0;
    this.zeroCount = 0;
    this.positive.clear();
    this.negative.clear();
    this.schemaNow = this.initialSchema;
    this.lastResetMs = this.opts.now();
    this.resetDueMs = undefined;
  }
}
