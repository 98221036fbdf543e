/**
 * Raw JSON values in API results. Payload fields (`data`, `conn_info`, ...) hold bytes that
 * are JSON text; results carry them as RawJson and `encodeJson` embeds the text unchanged
 * (compacted), so numbers keep their exact spelling.
 */

/** Already-encoded, valid, compact JSON text to embed as a value. */
export class RawJson {
  constructor(readonly json: string) {}
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes bytes as strict UTF-8; undefined when they are not valid UTF-8. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** True when the bytes are one valid JSON value in UTF-8. */
export function isValidJson(bytes: Uint8Array): boolean {
  return parseJsonBytes(bytes) !== invalid;
}

/** True when the bytes are a valid JSON object (not an array, not null). */
export function isValidJsonObject(bytes: Uint8Array): boolean {
  const v = parseJsonBytes(bytes);
  return v !== invalid && typeof v === 'object' && v !== null && !Array.isArray(v);
}

const invalid: unique symbol = Symbol('invalid');

function parseJsonBytes(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return invalid;
  const text = utf8Text(bytes);
  if (text === undefined) return invalid;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return invalid;
  }
}

/** Removes insignificant whitespace from valid JSON text without touching strings or numbers. */
export function compactJson(text: string): string {
  if (!/[ \t\r\n]/.test(text)) return text;
  let out = '';
  let start = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      out += text.slice(start, i);
      start = i + 1;
    }
  }
  return out + text.slice(start);
}

/** RawJson for bytes holding valid UTF-8 JSON; undefined for empty or non-JSON (binary) bytes. */
export function rawJsonFromBytes(bytes: Uint8Array): RawJson | undefined {
  if (bytes.length === 0) return undefined;
  const text = utf8Text(bytes);
  if (text === undefined) return undefined;
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  return new RawJson(compactJson(text));
}

/**
 * Serializes a result like JSON.stringify, except RawJson values are written as their text.
 * Undefined object members are skipped, undefined array items become null.
 */
export function encodeJson(value: unknown): string {
  if (value instanceof RawJson) return value.json;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : encodeJson(item);
    }
    return out + ']';
  }
  let out = '{';
  let first = true;
  for (const key of Object.keys(value)) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined || typeof member === 'function') continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + encodeJson(member);
  }
  return out + '}';
}
