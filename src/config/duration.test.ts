import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from './index.js';

describe('parseDuration', () => {
  const cases: [string, number][] = [
    ['300s', 300_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['720h', 2_592_000_000],
    ['-2h', -7_200_000],
    ['+5m', 300_000],
    ['100ms', 100],
    ['1.5ms', 1.5],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['250μs', 0.25],
    ['300ns', 0.0003],
    ['1h2m3.5s', 3_723_500],
    ['.5s', 500],
    ['1.s', 1000],
    ['0', 0],
    ['0s', 0],
  ];
  for (const [text, ms] of cases) {
    it(`parses ${text}`, () => assert.equal(parseDuration(text), ms));
  }
  for (const bad of ['', '1', 's', '.s', '1x', '1d', '--1s', '1..5s', 'abc']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseDuration(bad)));
  }
});

describe('formatDuration', () => {
  const cases: [number, string][] = [
    [25_000, '25s'],
    [60_000, '1m0s'],
    [2_592_000_000, '720h0m0s'],
    [1000, '1s'],
    [1500, '1.5s'],
    [100, '100ms'],
    [1.5, '1.5ms'],
    [0.5, '500µs'],
    [0.0003, '300ns'],
    [0, '0s'],
    [-90_000, '-1m30s'],
    [3_723_004, '1h2m3.004s'],
    [300_000, '5m0s'],
  ];
  for (const [ms, text] of cases) {
    it(`formats ${ms}ms as ${text}`, () => assert.equal(formatDuration(ms), text));
  }

  it('round-trips through parseDuration', () => {
    for (const text of ['25s', '1m0s', '720h0m0s', '1.5s', '100ms', '-1h0m0.5s', '27s', '1µs']) {
      assert.equal(formatDuration(parseDuration(text)), text);
    }
  });
});
