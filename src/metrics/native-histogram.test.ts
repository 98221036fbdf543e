/**
 * Native histogram bucket math against values worked out by hand from the definition: with
 * schema s, base = 2^(2^-s) and bucket i holds base^(i-1) < v <= base^i.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ZERO_THRESHOLD, NativeHistogram, bucketKey, schemaForFactor, spansAndDeltas } from './native-histogram.js';

const view = new DataView(new ArrayBuffer(8));
/** The neighbouring doubles of x. */
const step = (x: number, by: 1 | -1): number => {
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(by));
  return view.getFloat64(0);
};

function clock(start = 0): { now: () => number; at: (ms: number) => void } {
  let t = start;
  return { now: () => t, at: (ms) => (t = ms) };
}

describe('native histogram: schema from the bucket factor', () => {
  it('picks the finest schema whose growth 2^(2^-s) does not exceed the factor', () => {
    // log2(log2(1.1)) = log2(0.1375) = -2.86, floor -3: schema 3 (growth 2^(1/8) = 1.0905 <= 1.1).
    assert.equal(schemaForFactor(1.1), 3);
    assert.equal(schemaForFactor(1.09), 4); // 1.0905 > 1.09, 2^(1/16) = 1.0443 fits
    assert.equal(schemaForFactor(2), 0);
    assert.equal(schemaForFactor(1.5), 1); // 2^(1/2) = 1.414
    assert.equal(schemaForFactor(4), -1);
    assert.equal(schemaForFactor(1.0001), 8); // finer than schema 8 allows: clamped
    assert.equal(schemaForFactor(65536), -4); // 2^16 = 2^(2^4)
    assert.equal(schemaForFactor(1e300), -4);
    for (const bad of [1, 0.5, 0, -2, Number.NaN]) assert.throws(() => schemaForFactor(bad), RangeError);
  });
});

describe('native histogram: bucket index', () => {
  it('schema 0 (base 2): powers of two are upper bounds', () => {
    assert.equal(bucketKey(1, 0), 0);
    assert.equal(bucketKey(1.5, 0), 1);
    assert.equal(bucketKey(2, 0), 1);
    assert.equal(bucketKey(step(2, 1), 0), 2);
    assert.equal(bucketKey(step(2, -1), 0), 1);
    assert.equal(bucketKey(0.75, 0), 0);
    assert.equal(bucketKey(0.5, 0), -1);
    assert.equal(bucketKey(1024, 0), 10);
    assert.equal(bucketKey(1000, 0), 10); // 512 < 1000 <= 1024
  });

  it('schema 3 (base 2^(1/8)), the one Gyre uses', () => {
    assert.equal(bucketKey(1, 3), 0);
    assert.equal(bucketKey(step(1, 1), 3), 1);
    assert.equal(bucketKey(2, 3), 8);
    assert.equal(bucketKey(4, 3), 16);
    assert.equal(bucketKey(0.5, 3), -8);
    // 2^(1/8) = 1.09051, 2^(2/8) = 1.18921, 2^(3/8) = 1.29684, 2^(4/8) = 1.41421.
    assert.equal(bucketKey(1.05, 3), 1);
    assert.equal(bucketKey(1.09, 3), 1);
    assert.equal(bucketKey(1.091, 3), 2);
    assert.equal(bucketKey(1.19, 3), 3);
    assert.equal(bucketKey(1.35, 3), 4);
    // 8·log2(v), rounded up: 3 → 12.68 → 13; 0.1 → -26.58 → -26; 0.001 → -79.73 → -79; 1000 → 79.73 → 80.
    assert.equal(bucketKey(3, 3), 13);
    assert.equal(bucketKey(0.1, 3), -26);
    assert.equal(bucketKey(0.001, 3), -79);
    assert.equal(bucketKey(1000, 3), 80);
  });

  it('an irrational boundary: the double just above √2 is past bucket 4, the one just below is in it', () => {
    // √2 = 1.41421356237309504880…; Math.SQRT2 = 1.41421356237309514547… (above),
    // the double before it = 1.41421356237309492343… (below). √2 = 2^(4/8): upper bound of bucket 4.
    assert.equal(bucketKey(Math.SQRT2, 3), 5);
    assert.equal(bucketKey(step(Math.SQRT2, -1), 3), 4);
    assert.equal(bucketKey(Math.SQRT2, 1), 2); // schema 1: √2 = base^1
    assert.equal(bucketKey(step(Math.SQRT2, -1), 1), 1);
  });

  it('a boundary where Math.pow rounds up: 2^(1/8)', () => {
    // 2^(1/8) = 1.09050773266525765920…; Math.pow(2, 1/8) = 1.09050773266525768967… (above, bucket 2),
    // the double before it = 1.09050773266525746763… (below, bucket 1).
    assert.equal(Math.pow(2, 1 / 8), 1.0905077326652577);
    assert.equal(bucketKey(1.0905077326652577, 3), 2);
    assert.equal(bucketKey(step(1.0905077326652577, -1), 3), 1);
    assert.equal(bucketKey(1.0905077326652577 * 2 ** -20, 3), 2 - 160); // the same mantissa in another octave
  });

  it('negative schemas: base 4 and base 2^16', () => {
    // Base 4: bucket i holds (4^(i-1), 4^i].
    assert.equal(bucketKey(1, -1), 0);
    assert.equal(bucketKey(2, -1), 1);
    assert.equal(bucketKey(4, -1), 1);
    assert.equal(bucketKey(5, -1), 2);
    assert.equal(bucketKey(0.3, -1), 0);
    assert.equal(bucketKey(0.25, -1), -1);
    assert.equal(bucketKey(1, -4), 0);
    assert.equal(bucketKey(2, -4), 1);
    assert.equal(bucketKey(65536, -4), 1);
    assert.equal(bucketKey(65537, -4), 2);
  });

  it('schema 8 (base 2^(1/256))', () => {
    assert.equal(bucketKey(2, 8), 256);
    assert.equal(bucketKey(step(1, 1), 8), 1);
    assert.equal(bucketKey(0.5, 8), -256);
  });

  it('huge, infinite and subnormal values', () => {
    // Number.MAX_VALUE = (2 - 2^-52)·2^1023 lies in (2^1023, 2^1024]; +Infinity goes one further.
    assert.equal(bucketKey(Number.MAX_VALUE, 0), 1024);
    assert.equal(bucketKey(Infinity, 0), 1025);
    assert.equal(bucketKey(Number.MAX_VALUE, 3), 8192); // > 2^(8191/8) = 1.834·2^1023
    assert.equal(bucketKey(Infinity, 3), 8193);
    // The smallest subnormal is 2^-1074 = 4^-537.
    assert.equal(bucketKey(Number.MIN_VALUE, 0), -1074);
    assert.equal(bucketKey(Number.MIN_VALUE, -1), -537);
    assert.equal(bucketKey(3 * Number.MIN_VALUE, 0), -1072); // 2^-1073 < 3·2^-1074 <= 2^-1072
  });
});

describe('native histogram: spans and deltas', () => {
  it('gaps of one or two buckets stay inside a span, longer gaps start a new one', () => {
    assert.deepEqual(spansAndDeltas(new Map()), { spans: [], deltas: [] });
    const m = new Map([
      [0, 5],
      [-3, 1],
      [6, 1],
      [-2, 2],
      [5, 1],
    ]);
    assert.deepEqual(spansAndDeltas(m), {
      spans: [
        { offset: -3, length: 4 },
        { offset: 4, length: 2 },
      ],
      deltas: [1, 1, -2, 5, -4, 0],
    });
    assert.deepEqual(
      spansAndDeltas(
        new Map([
          [0, 1],
          [3, 1],
        ]),
      ),
      { spans: [{ offset: 0, length: 4 }], deltas: [1, -1, 0, 1] },
    );
    assert.deepEqual(
      spansAndDeltas(
        new Map([
          [0, 1],
          [4, 1],
        ]),
      ),
      {
        spans: [
          { offset: 0, length: 1 },
          { offset: 3, length: 1 },
        ],
        deltas: [1, 0],
      },
    );
  });
});

describe('native histogram: observations', () => {
  it('positive, negative, zero and NaN observations', () => {
    const h = new NativeHistogram({ bucketFactor: 1.1, maxBuckets: 0, minResetMs: 0, now: () => 5 });
    for (const v of [1, 1, 3, -3, 0, -0, 1e-40, DEFAULT_ZERO_THRESHOLD, -DEFAULT_ZERO_THRESHOLD, 2 ** -127]) h.observe(v);
    h.observe(Number.NaN);
    const s = h.snapshot();
    assert.equal(s.count, 11);
    assert.ok(Number.isNaN(s.sum));
    assert.equal(s.schema, 3);
    assert.equal(s.zeroThreshold, 2 ** -128);
    assert.equal(s.zeroCount, 5);
    // 2^-127 → bucket -1016; 1 (twice) → 0; 3 → 13.
    assert.deepEqual(s.positiveSpans, [
      { offset: -1016, length: 1 },
      { offset: 1015, length: 1 },
      { offset: 12, length: 1 },
    ]);
    assert.deepEqual(s.positiveDeltas, [1, 1, -1]);
    assert.deepEqual(s.negativeSpans, [{ offset: 13, length: 1 }]);
    assert.deepEqual(s.negativeDeltas, [1]);
    assert.equal(s.createdMs, 5);
  });

  it('too many buckets before the reset interval: the schema drops, neighbours merge, a reset follows', () => {
    const c = clock(0);
    const h = new NativeHistogram({ bucketFactor: 1.1, maxBuckets: 4, minResetMs: 1000, now: c.now });
    c.at(10);
    for (const v of [1, 1.05, 1.15, 1.25]) h.observe(v); // buckets 0, 1, 2, 3 of schema 3
    assert.equal(h.bucketCount, 4);
    h.observe(1.35); // bucket 4: one too many
    // Schema 2 (base 2^(1/4) = 1.18921): 1 → 0; 1.05, 1.15 → 1; 1.25, 1.35 → 2 (<= 1.41421).
    let s = h.snapshot();
    assert.equal(s.schema, 2);
    assert.equal(s.count, 5);
    assert.deepEqual(s.positiveSpans, [{ offset: 0, length: 3 }]);
    assert.deepEqual(s.positiveDeltas, [1, 1, 0]);
    c.at(999);
    h.observe(1);
    assert.equal(h.snapshot().schema, 2);
    // The reset is due 1000 ms after the last one (at 0): everything starts over at schema 3.
    c.at(1000);
    s = h.snapshot();
    assert.deepEqual([s.count, s.sum, s.schema, s.positiveSpans.length, s.createdMs], [0, 0, 3, 0, 1000]);
    h.observe(2);
    s = h.snapshot();
    assert.deepEqual([s.count, s.schema, s.positiveSpans, s.positiveDeltas], [1, 3, [{ offset: 8, length: 1 }], [1]]);
  });

  it('too many buckets after the reset interval: a reset that keeps the overflowing observation', () => {
    const c = clock(0);
    const h = new NativeHistogram({ bucketFactor: 1.1, maxBuckets: 2, minResetMs: 1000, now: c.now });
    c.at(5000);
    h.observe(1);
    h.observe(2);
    h.observe(4); // bucket 16: third bucket, last reset 5 s ago
    const s = h.snapshot();
    assert.deepEqual([s.count, s.sum, s.schema, s.createdMs], [1, 4, 3, 5000]);
    assert.deepEqual(s.positiveSpans, [{ offset: 16, length: 1 }]);
  });

  it('the reduction repeats while buckets keep overflowing and stops at schema -4', () => {
    const h = new NativeHistogram({ bucketFactor: 1.1, maxBuckets: 3, minResetMs: 0, now: () => 0 });
    // Powers of 4 from 4^-20 to 4^20: 41 buckets at schema 3, spread over 2^80.
    for (let e = -20; e <= 20; e++) h.observe(4 ** e);
    const s = h.snapshot();
    assert.equal(s.schema, -4);
    assert.equal(s.count, 41);
    // Base 2^16: 4^e = 2^(2e) → bucket ceil(e / 8): -2 (e = -20..-16), -1 (-15..-8), 0 (-7..0), 1 (1..8), 2 (9..16), 3 (17..20).
    assert.deepEqual(s.positiveSpans, [{ offset: -2, length: 6 }]);
    assert.deepEqual(s.positiveDeltas, [5, 3, 0, 0, 0, -4]);
    assert.ok(h.bucketCount > 3, 'best effort: schema -4 is the coarsest');
  });

  it('halving maps bucket i to ceil(i / 2), on both sides of zero', () => {
    const h = new NativeHistogram({ bucketFactor: 2, maxBuckets: 3, minResetMs: 0, now: () => 0 });
    // Schema 0: 0.3 → -1 (0.25 < 0.3 <= 0.5), 0.2 → -2, 1.5 → 1; then 3 → 2 overflows.
    for (const v of [0.3, 0.2, 1.5, 3]) h.observe(v);
    // Schema -1 (base 4): -1 → 0 (0.25 < 0.3 <= 1); -2 → -1 (0.0625 < 0.2 <= 0.25); 1 → 1; 2 → 1 (1 < 3 <= 4).
    const s = h.snapshot();
    assert.equal(s.schema, -1);
    assert.deepEqual(s.positiveSpans, [{ offset: -1, length: 3 }]);
    assert.deepEqual(s.positiveDeltas, [1, 0, 1]);
  });
});
