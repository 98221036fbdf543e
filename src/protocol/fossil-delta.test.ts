import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import WebSocket from 'ws';
import { applyDelta, createDelta, FossilDeltaError, fossilChecksum } from './fossil-delta.js';
import { deltaCases, editBytes, gameState, nextTick } from './fossil-delta.fixtures.js';
import { mutateMany, Rng } from './fuzz.fixtures.js';

/**
 * The SDK does not export its fossil decoder. Each client holds a codec whose
 * `applyDeltaIfNeeded(pub, prevValue)` is what a Subscription calls on every publication of a
 * delta-negotiated subscription, so the tests drive the SDK's real decoding path through it.
 * The client is never connected.
 */
interface SdkDecoded {
  newData: unknown;
  newPrevValue: Uint8Array;
  isDelta: boolean;
}
interface SdkCodec {
  applyDeltaIfNeeded(pub: { data: unknown; delta?: boolean }, prevValue: Uint8Array | undefined): SdkDecoded;
}

function sdkCodec(build: new (endpoint: string, opts: object) => object): SdkCodec {
  const client = new build('ws://127.0.0.1:9/connection/websocket', { websocket: WebSocket });
  const codec = (client as { _codec?: SdkCodec })._codec;
  assert.equal(typeof codec?.applyDeltaIfNeeded, 'function', 'SDK codec not reachable');
  return codec!;
}

const sdkProtobuf = sdkCodec(CentrifugeProtobuf as unknown as new (endpoint: string, opts: object) => object);
const sdkJson = sdkCodec(Centrifuge as unknown as new (endpoint: string, opts: object) => object);
const utf8 = new TextEncoder();
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The SDK's Protobuf path: delta bytes applied to the previous payload bytes. */
function sdkApplyBytes(source: Uint8Array, delta: Uint8Array): Uint8Array {
  const r = sdkProtobuf.applyDeltaIfNeeded({ data: delta, delta: true }, source);
  assert.equal(r.isDelta, true);
  return Uint8Array.from(r.newPrevValue);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, msg: string): void {
  if (Buffer.compare(Buffer.from(actual), Buffer.from(expected)) !== 0) {
    assert.fail(`${msg}: ${actual.length} bytes, expected ${expected.length}; got ${hex(actual.subarray(0, 64))}…`);
  }
}

/** Base-64 digits of n, as the format counts them. */
function digits(n: number): number {
  let d = 1;
  while (n >= 64) {
    n = Math.floor(n / 64);
    d++;
  }
  return d;
}

const cases = deltaCases(0x5eed, 40);

describe('fossil delta: the SDK decodes our deltas', () => {
  it('Protobuf path: every case, byte for byte', () => {
    assert.ok(cases.length > 200);
    for (const c of cases) {
      const delta = createDelta(c.source, c.target);
      let out: Uint8Array;
      try {
        out = sdkApplyBytes(c.source, delta);
      } catch (e) {
        assert.fail(`${c.name}: SDK refused our delta (${(e as Error).message})`);
      }
      assertBytes(out, c.target, c.name);
      // The server's rule (patch ≥ target → send full) relies on this bound.
      assert.ok(delta.length <= c.target.length + 2 * digits(c.target.length) + 9, `${c.name}: delta too long`);
    }
  });

  it('JSON path: the delta travels as a JSON string and decodes to the next value', () => {
    let checked = 0;
    for (const c of cases) {
      let sourceText: string;
      let targetValue: unknown;
      try {
        sourceText = fatalUtf8.decode(c.source);
        targetValue = JSON.parse(fatalUtf8.decode(c.target));
        JSON.parse(sourceText);
      } catch {
        continue; // not JSON: only the Protobuf path carries it
      }
      const delta = createDelta(c.source, c.target);
      // JSON texts here are ASCII, so the delta is ASCII too and survives the string form.
      const wire = JSON.parse(JSON.stringify({ data: fatalUtf8.decode(delta), delta: true })) as { data: string; delta: boolean };
      const full = sdkJson.applyDeltaIfNeeded({ data: sourceText }, undefined);
      assert.equal(full.isDelta, false);
      const r = sdkJson.applyDeltaIfNeeded(wire, full.newPrevValue);
      assert.equal(r.isDelta, true);
      assert.deepEqual(r.newData, targetValue, c.name);
      assertBytes(r.newPrevValue, c.target, c.name);
      checked++;
    }
    assert.ok(checked >= 80, `only ${checked} JSON cases`);
  });

  it('a delta may split a multi-byte character: JSON delivery must check it is valid UTF-8', () => {
    // One accented letter changed: the copy ends inside the character, the insert holds its
    // second byte alone. As a JSON string this delta cannot reach the SDK intact; the server
    // sends the full payload instead (spec §3.2). Over Protobuf the same bytes decode fine.
    const source = `{"k":"${'é'.repeat(30)}"}`;
    const target = source.slice(0, 20) + 'è' + source.slice(21);
    const delta = createDelta(utf8.encode(source), utf8.encode(target));
    assert.throws(() => fatalUtf8.decode(delta), TypeError);
    assertBytes(sdkApplyBytes(utf8.encode(source), delta), utf8.encode(target), 'Protobuf path');
    const lossy = new TextDecoder().decode(delta); // what a careless JSON encoder would send
    assert.throws(() => sdkJson.applyDeltaIfNeeded({ data: lossy, delta: true }, utf8.encode(source)), Error);
  });

  it('a stream of publications: full, then each a delta against the value the SDK holds', () => {
    const rng = new Rng(7);
    let state = gameState(rng, 10);
    let prevText = JSON.stringify(state);
    let held = sdkJson.applyDeltaIfNeeded({ data: prevText }, undefined).newPrevValue;
    for (let i = 0; i < 200; i++) {
      state = nextTick(rng, state, 1 + rng.int(3));
      const text = JSON.stringify(state);
      const delta = createDelta(utf8.encode(prevText), utf8.encode(text));
      const r = sdkJson.applyDeltaIfNeeded({ data: fatalUtf8.decode(delta), delta: true }, held);
      assert.deepEqual(r.newData, state);
      held = r.newPrevValue;
      prevText = text;
    }
  });
});

describe('fossil delta: our decoder', () => {
  it('round-trips every case', () => {
    for (const c of cases) {
      assertBytes(applyDelta(c.source, createDelta(c.source, c.target)), c.target, c.name);
    }
  });

  it('agrees with the SDK on whatever it accepts, and refuses the rest with a coded error', () => {
    const rng = new Rng(0xf0551);
    const extras = ['~~~~~~~', 'zzzzzz', '3@', '@', ':', ';', ',', '\n', '0:', '0;', '1@0,', 'Zz@0,', '~~:'].map((s) => utf8.encode(s));
    const pool = cases.filter((c) => c.target.length < 6000);
    const cap = 8192;
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const c = rng.pick(pool);
      const valid = createDelta(c.source, c.target);
      const delta = rng.chance(0.05) ? rng.bytes(rng.int(64)) : mutateMany(rng, valid, 4, extras);
      let out: Uint8Array;
      try {
        out = applyDelta(c.source, delta, cap);
      } catch (e) {
        if (!(e instanceof FossilDeltaError)) throw new Error(`non-coded error on ${hex(delta)}: ${String(e)}`);
        refused++;
        continue;
      }
      accepted++;
      assert.ok(out.length <= cap);
      // What we accept is well formed, so the SDK (a looser decoder) must produce the same bytes.
      assertBytes(sdkApplyBytes(c.source, delta), out, `SDK disagrees on ${hex(delta)}`);
    }
    assert.ok(refused > 15_000, `refused ${refused}`);
    assert.ok(accepted > 0, 'no mutated delta was accepted: the agreement check never ran');
  });

  it('refuses hostile and malformed deltas with the documented code, before allocating', () => {
    const src = utf8.encode('0123456789abcdefghijklmnopqrstuvwxyz');
    const check = (s: string, code: string, cap?: number): void => {
      assert.throws(
        () => applyDelta(src, utf8.encode(s), cap),
        (e: unknown) => e instanceof FossilDeltaError && e.code === code,
        `${JSON.stringify(s)} should fail with ${code}`,
      );
    };
    const sum = (t: string): string => {
      const v = fossilChecksum(utf8.encode(t));
      let out = '';
      let n = v;
      const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';
      do {
        out = alphabet[n % 64] + out;
        n = Math.floor(n / 64);
      } while (n > 0);
      return out;
    };
    check('', 'bad_integer');
    check('\n0;', 'bad_integer');
    check('~~~~~~~\n', 'bad_integer'); // 2^42 - 1
    check('3~~~~~\n', 'too_large'); // 2^32 - 1, declared: refused before allocating
    check('1000\n', 'too_large', 4096); // 64^3 = 262144 > cap
    check('5 5:hello', 'bad_header');
    check('5\n5:hello', 'unterminated');
    check('5\n5:hel', 'bad_insert');
    check('5\n5', 'unterminated');
    check('5\n5?hello', 'bad_operator');
    check('5\n5@0', 'bad_copy');
    check('5\n5@0;', 'bad_copy');
    check('5\n5@a,', 'bad_copy'); // 37 + 5 > 36
    check('5\n5@~~~~~~,', 'bad_integer');
    check('4\n5@0,', 'overflow');
    check('4\n5:hello', 'overflow');
    check(`6\n5:hello${sum('hello')};`, 'size_mismatch');
    check('5\n5:hello0;', 'bad_checksum');
    check(`5\n5:hello${sum('hello')};x`, 'trailing_bytes');
    check('5\n:hello', 'bad_integer');
    // The same commands, well formed, are accepted.
    assert.equal(Buffer.from(applyDelta(src, utf8.encode(`5\n5@0,${sum('01234')};`))).toString(), '01234');
    assert.equal(Buffer.from(applyDelta(src, utf8.encode(`5\n5:hello${sum('hello')};`))).toString(), 'hello');
  });

  it('refuses a cap that is not a non-negative integer', () => {
    const delta = createDelta(utf8.encode('source text longer than a block'), utf8.encode('hello'));
    for (const cap of [-1, Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
      assert.throws(() => applyDelta(new Uint8Array(0), delta, cap), RangeError, String(cap));
    }
    assert.throws(() => applyDelta(new Uint8Array(0), delta, 4), (e: unknown) => e instanceof FossilDeltaError && e.code === 'too_large');
    assert.equal(Buffer.from(applyDelta(new Uint8Array(0), delta, 5)).toString(), 'hello');
  });

  it('accepts the minimal forms', () => {
    assert.deepEqual(applyDelta(new Uint8Array(0), utf8.encode('0\n0;')), new Uint8Array(0));
    assert.deepEqual(applyDelta(new Uint8Array(0), utf8.encode('0\n0:0;')), new Uint8Array(0));
  });
});

describe('fossil delta: encoder output', () => {
  it('matches the worked examples byte for byte', () => {
    const prev = '{"counter":1,"payload":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}';
    const next = prev.replace('"counter":1', '"counter":2');
    assert.equal(prev.length, 66);
    const d = createDelta(utf8.encode(prev), utf8.encode(next));
    assert.equal(Buffer.from(d).toString('latin1'), '12\nC:{"counter":2r@C,1Sgkbp;');
    assert.equal(Buffer.from(createDelta(utf8.encode('short'), utf8.encode('hello'))).toString('latin1'), '5\n5:hello3NPMmh;');
  });

  it('is small for a ~2 KB game state with a few fields changed', () => {
    const rng = new Rng(42);
    for (let r = 0; r < 50; r++) {
      const state = gameState(rng, 10);
      const source = utf8.encode(JSON.stringify(state));
      const target = utf8.encode(JSON.stringify(nextTick(rng, state, 3)));
      assert.ok(target.length > 1500 && target.length < 3000, `target ${target.length} bytes`);
      const delta = createDelta(source, target);
      assert.ok(delta.length < 0.2 * target.length, `delta ${delta.length} bytes for ${target.length}`);
    }
  });

  it('stays small for large inputs, past 512 KB of source too', () => {
    const rng = new Rng(5);
    for (const size of [70_000, 600_000]) {
      const source = rng.bytes(size);
      const target = editBytes(rng, source, 20);
      const delta = createDelta(source, target);
      assert.ok(delta.length < 0.05 * target.length, `delta ${delta.length} bytes for ${target.length}`);
    }
  });

  it('is deterministic: the same inputs give the same bytes whatever ran before', () => {
    const rng = new Rng(11);
    const pool = cases.filter((c) => c.source.length > 64 && c.target.length < 20_000);
    const first = pool.map((c) => createDelta(c.source, c.target));
    for (let round = 0; round < 3; round++) {
      for (const [i, c] of pool.entries()) {
        // A previous call on other inputs leaves its index in the reused hash tables.
        const other = rng.pick(pool);
        createDelta(other.target, other.source);
        assertBytes(createDelta(c.source, c.target), first[i]!, `${c.name} after ${other.name}`);
      }
    }
  });

  it('returns fresh bytes: a later call does not change an earlier delta', () => {
    const rng = new Rng(3);
    const a = rng.bytes(3000);
    const first = createDelta(a, a.subarray(100));
    const copy = Uint8Array.from(first);
    createDelta(rng.bytes(3000), rng.bytes(3000));
    createDelta(rng.bytes(2_000_000), rng.bytes(2_000_000)); // past the scratch retain limits
    createDelta(a, rng.bytes(10));
    assert.deepEqual(first, copy);
    assertBytes(applyDelta(a, first), a.subarray(100), 'first delta');
  });
});
