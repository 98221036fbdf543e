/**
 * A byte-level JSON validator for embedding payloads raw (protocol.md §2.1). Faster than
 * JSON.parse because it builds nothing; accepts exactly RFC 8259 JSON texts (one value, optional
 * whitespace). Like Go's json.Valid it does not check UTF-8 inside strings.
 */

/** scanJson result: not a JSON text. */
export const JSON_INVALID = 0;
/** scanJson result: valid JSON without raw newlines. */
export const JSON_VALID = 1;
/** scanJson result: valid JSON with raw newlines (necessarily whitespace between tokens). */
export const JSON_VALID_WITH_NEWLINES = 2;

const OBJECT = 1;
const ARRAY = 2;

// Character classes for the bytes that matter.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Returns the index after the string starting at `i` (an opening quote), or -1 if malformed. */
function scanString(b: Uint8Array, i: number): number {
  const n = b.length;
  i++;
  while (i < n) {
    const c = b[i] as number;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (e === 0x75) {
        if (!isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return -1;
        i += 6;
      } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
      } else return -1;
    } else if (c < 0x20) return -1;
    else i++;
  }
  return -1;
}

/** Returns the index after the number starting at `i`, or -1 if malformed. */
function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === 0x2e) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

function scanLiteral(b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

let sawNewline = false;

/** Skips JSON whitespace from `i`; raw newlines can only occur here in valid JSON, so note them. */
function skipSpace(b: Uint8Array, i: number): number {
  let c = b[i];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
    if (c === 0x0a) sawNewline = true;
    c = b[++i];
  }
  return i;
}

/** Scans `"key" :` from `i` (leading whitespace allowed); returns the index after the colon, or -1. */
function scanKey(b: Uint8Array, i: number): number {
  i = skipSpace(b, i);
  if (b[i] !== QUOTE) return -1;
  i = scanString(b, i);
  if (i < 0) return -1;
  i = skipSpace(b, i);
  return b[i] === 0x3a ? i + 1 : -1;
}

/** Validates `b` as one JSON text; see the JSON_* results. Iterative, so nesting depth is unbounded. */
export function scanJson(b: Uint8Array): number {
  sawNewline = false;
  const stack: number[] = [];
  let i = 0;
  let expectValue = true;
  for (;;) {
    i = skipSpace(b, i);
    const c = b[i];
    if (expectValue) {
      if (c === 0x7b || c === 0x5b) {
        const j = skipSpace(b, i + 1);
        if (b[j] === c + 2) {
          i = j + 1; // empty {} or []
          expectValue = false;
          continue;
        }
        stack.push(c === 0x7b ? OBJECT : ARRAY);
        i = c === 0x7b ? scanKey(b, j) : j;
        if (i < 0) return JSON_INVALID;
        continue;
      }
      if (c === QUOTE) i = scanString(b, i);
      else if (c === 0x74) i = scanLiteral(b, i, 'true');
      else if (c === 0x66) i = scanLiteral(b, i, 'false');
      else if (c === 0x6e) i = scanLiteral(b, i, 'null');
      else i = scanNumber(b, i);
      if (i < 0) return JSON_INVALID;
      expectValue = false;
      continue;
    }
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (i !== b.length) return JSON_INVALID;
      return sawNewline ? JSON_VALID_WITH_NEWLINES : JSON_VALID;
    }
    if (c === 0x2c) {
      i = top === OBJECT ? scanKey(b, i + 1) : i + 1;
      if (i < 0) return JSON_INVALID;
      expectValue = true;
    } else if ((c === 0x7d && top === OBJECT) || (c === 0x5d && top === ARRAY)) {
      stack.pop();
      i++;
    } else return JSON_INVALID;
  }
}
