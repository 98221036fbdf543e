/**
 * Where things are in a JSON config file: the line and column of the first syntax error,
 * and of every key by its dotted config path. JSON.parse keeps parsing the values; this
 * scanner only exists because Node's JSON.parse errors carry no position.
 */

/** A 1-based position in a text file (column counted in UTF-16 code units). */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/** What {@link scanJson} found. */
export interface JsonScan {
  /** First syntax error, if any; `keys` then holds the keys seen before it. */
  readonly error?: TextPosition & { readonly message: string };
  /**
   * Position of each object key (the opening quote) and each array item (its first
   * character), by dotted path with lower-cased keys and `[i]` items, as config errors name them.
   */
  readonly keys: ReadonlyMap<string, TextPosition>;
}

class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class Scanner {
  pos = 0;
  readonly offsets = new Map<string, number>();

  constructor(private readonly text: string) {}

  fail(message: string, at = this.pos): never {
    throw new JsonSyntaxError(message, at);
  }

  skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos] ?? '')) this.pos++;
  }

  document(): void {
    this.value('');
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected data after the top-level value');
  }

  value(path: string): void {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === undefined) this.fail('unexpected end of input');
    if (c === '{') return this.object(path);
    if (c === '[') return this.array(path);
    if (c === '"') {
      this.string();
      return;
    }
    if (c === 't') return this.literal('true');
    if (c === 'f') return this.literal('false');
    if (c === 'n') return this.literal('null');
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    this.fail(`unexpected character ${JSON.stringify(c)}`);
  }

  object(path: string): void {
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.fail('expected a double-quoted key');
      const at = this.pos;
      const key = this.string().toLowerCase();
      const keyPath = path === '' ? key : `${path}.${key}`;
      this.offsets.set(keyPath, at);
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail("expected ':' after a key");
      this.pos++;
      this.value(keyPath);
      this.skipSpace();
      const next = this.text[this.pos];
      this.pos++;
      if (next === ',') continue;
      if (next === '}') return;
      this.fail("expected ',' or '}' after a value in an object", this.pos - 1);
    }
  }

  array(path: string): void {
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return;
    }
    for (let i = 0; ; i++) {
      this.skipSpace();
      const itemPath = `${path}[${i}]`;
      this.offsets.set(itemPath, this.pos);
      this.value(itemPath);
      this.skipSpace();
      const next = this.text[this.pos];
      this.pos++;
      if (next === ',') continue;
      if (next === ']') return;
      this.fail("expected ',' or ']' after a value in an array", this.pos - 1);
    }
  }

  string(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) this.fail('unterminated string');
      if (c === '"') {
        this.pos++;
        return out;
      }
      if (c === '\\') {
        const e = this.text[this.pos + 1] ?? '';
        if (e === 'u') {
          const hex = this.text.slice(this.pos + 2, this.pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 6;
          continue;
        }
        const ch = ESCAPES[e];
        if (ch === undefined) this.fail(`invalid escape \\${e}`);
        out += ch;
        this.pos += 2;
        continue;
      }
      if (c < ' ') this.fail('control character in a string');
      out += c;
      this.pos++;
    }
  }

  number(): void {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null) this.fail('invalid number');
    this.pos += m[0].length;
  }

  literal(word: string): void {
    if (this.text.startsWith(word, this.pos)) this.pos += word.length;
    else this.fail(`unexpected character ${JSON.stringify(this.text[this.pos])}`);
  }
}

/** Converts a string offset to a 1-based line and column. */
export function positionAt(text: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Scans JSON text once; never throws. */
export function scanJson(text: string): JsonScan {
  const scanner = new Scanner(text);
  let error: JsonScan['error'];
  try {
    scanner.document();
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    error = { ...positionAt(text, err.offset), message: err.message };
  }
  // Sorted by offset (a duplicate key keeps its first slot in the map), one pass converts all.
  const keys = new Map<string, TextPosition>();
  let line = 1;
  let lineStart = 0;
  let i = 0;
  for (const [path, offset] of [...scanner.offsets].sort((x, y) => x[1] - y[1])) {
    for (; i < offset; i++) {
      if (text[i] === '\n') {
        line++;
        lineStart = i + 1;
      }
    }
    keys.set(path, { line, column: offset - lineStart + 1 });
  }
  return error === undefined ? { keys } : { error, keys };
}
