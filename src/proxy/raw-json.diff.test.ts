// Differential test of the proxy response reader against JSON.parse: on random and mutated
// JSON texts both must accept and reject alike, and accepted values must be equal (with no
// raw fields and within the reader's depth); chosen fields come back as their exact bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, mutate } from '../protocol/fuzz.fixtures.js';
import { parseJsonKeepingRaw, RawJson } from './raw-json.js';

function randomValue(rng: Rng, depth: number): unknown {
  const kind = rng.int(depth > 4 ? 5 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.int(2) === 0;
    case 2:
      return rng.int(2) === 0 ? rng.int(1_000_000) - 500_000 : (rng.int(1_000_000) - 500_000) / 1000;
    case 3:
      return ['', 'a', 'é', '\u2028', '"quoted"', 'back\\slash', '\u0000', 'x'.repeat(rng.int(40))][rng.int(8)];
    case 4:
      return String.fromCharCode(...Array.from({ length: rng.int(8) }, () => 32 + rng.int(0x2000)));
    case 5:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) o[['result', 'data', 'info', 'k', '__proto__', 'x y'][rng.int(6)]!] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

/** JSON.parse's value with plain objects, for comparison with the reader's null-prototype ones. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function reference(text: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

test('agrees with JSON.parse on random and mutated texts', () => {
  const rng = new Rng(20261207);
  let accepted = 0;
  let rejected = 0;
  for (let n = 0; n < 4000; n++) {
    const text = Buffer.from(JSON.stringify(randomValue(rng, 0)));
    const input = n % 2 === 0 ? text : mutate(rng, text);
    const ref = reference(input);
    // Decoding for JSON.parse replaces invalid UTF-8, which the reader refuses: such inputs are skipped.
    if (!Buffer.from(input.toString('utf8')).equals(input)) continue;
    const got = parseJsonKeepingRaw(input, () => false);
    if (!ref.ok) {
      assert.equal(got, undefined, `accepted what JSON.parse rejects: ${JSON.stringify(input.toString('latin1'))}`);
      rejected++;
      continue;
    }
    assert.deepEqual(plain(got), plain(ref.value), `differs on ${JSON.stringify(input.toString('latin1'))}`);
    accepted++;
  }
  assert.ok(accepted > 1500 && rejected > 300, `both outcomes exercised: ${accepted} accepted, ${rejected} rejected`);
});

test('fields chosen raw come back as their exact bytes', () => {
  const rng = new Rng(7);
  for (let n = 0; n < 500; n++) {
    const data = JSON.stringify(randomValue(rng, 2));
    const body = Buffer.from(`{"result":{"data": ${data} ,"user":"u"}}`);
    const got = parseJsonKeepingRaw(body, (path, key) => path.length === 1 && path[0] === 'result' && key === 'data') as any;
    assert.ok(got.result.data instanceof RawJson);
    assert.equal(Buffer.from(got.result.data.bytes).toString('utf8'), data);
    assert.equal(got.result.user, 'u');
  }
});
