/**
 * Delta compression helpers (subscriptions.md §3): the delta-mode wire form of a payload and
 * the decision whether a fossil patch may replace it. Shared by live fan-out (hub encoder) and
 * by recovered publications in subscribe results.
 */
import { isUtf8 } from 'node:buffer';
import { createDelta } from '../protocol/fossil-delta.js';
import type { Publication } from '../protocol/types.js';

/**
 * The `data` of a publication on a JSON delta-negotiated subscription: a JSON string whose
 * value is the payload's text (§3.2). Invalid UTF-8 bytes become U+FFFD, as the SDK would read them.
 */
export function jsonStringData(data: Uint8Array): Uint8Array {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  return Buffer.from(JSON.stringify(text), 'utf8');
}

/** A patch computed once for one publication, with what each protocol may do with it. */
export interface DeltaPatch {
  /** The fossil patch bytes, strictly smaller than the target payload. */
  bytes: Uint8Array;
  /** The bytes are valid UTF-8, so they survive the JSON string form (§3.2 UTF-8 safety). */
  jsonSafe: boolean;
}

/**
 * The fossil patch from `prev` to `cur`, or undefined when it is not smaller than `cur` (the
 * full payload goes instead, §3.4 decision rule).
 */
export function makePatch(prev: Uint8Array, cur: Uint8Array): DeltaPatch | undefined {
  const bytes = createDelta(prev, cur);
  if (bytes.length >= cur.length) return undefined;
  return { bytes, jsonSafe: isUtf8(bytes) };
}

/**
 * Re-encodes publications a delta subscriber receives in one batch (recovered ones in a
 * subscribe result, §3.5): the first full, each next one a patch against the one before when
 * that is smaller (and, for JSON, valid UTF-8). JSON data goes as JSON strings.
 */
export function deltaBatch(pubs: Publication[], json: boolean): Publication[] {
  const out: Publication[] = [];
  let prev: Uint8Array | undefined;
  for (const p of pubs) {
    const cur = p.data ?? new Uint8Array(0);
    const patch = prev !== undefined ? makePatch(prev, cur) : undefined;
    if (patch !== undefined && (!json || patch.jsonSafe)) {
      out.push({ ...p, data: json ? jsonStringData(patch.bytes) : patch.bytes, delta: true });
    } else {
      out.push({ ...p, data: json ? jsonStringData(cur) : cur });
    }
    prev = cur;
  }
  return out;
}
