/**
 * Splits a stream of concatenated JSON values (newline-delimited or separated by any JSON
 * whitespace, or not separated at all between objects) into parsed values.
 */

/** The text is not a sequence of valid JSON values. */
export class JsonStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonStreamError';
  }
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Index just past the closing quote of the string starting at `i` (which is a quote). */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x5c) j++;
    else if (c === 0x22) return j + 1;
  }
  throw new JsonStreamError('unterminated string');
}

/** Index just past the JSON value starting at `i` (not whitespace). */
function valueEnd(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === 0x22) return stringEnd(text, i);
  if (first === 0x7b || first === 0x5b) {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (c === 0x22) {
        j = stringEnd(text, j) - 1;
      } else if (c === 0x7b || c === 0x5b) {
        depth++;
      } else if (c === 0x7d || c === 0x5d) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new JsonStreamError('unterminated value');
  }
  // A number or literal runs until whitespace or a structural character.
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (isWs(c) || c === 0x7b || c === 0x5b || c === 0x22 || c === 0x7d || c === 0x5d || c === 0x2c || c === 0x3a) break;
    j++;
  }
  if (j === i) throw new JsonStreamError(`unexpected character at ${i}`);
  return j;
}

/** Parses every value of the stream. Throws JsonStreamError when any of them is invalid. */
export function parseJsonStream(text: string): unknown[] {
  const values: unknown[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && isWs(text.charCodeAt(i))) i++;
    if (i >= text.length) return values;
    const end = valueEnd(text, i);
    try {
      values.push(JSON.parse(text.slice(i, end)));
    } catch (err) {
      throw new JsonStreamError(`invalid JSON value at ${i}: ${(err as Error).message}`);
    }
    i = end;
  }
}
