/**
 * The one translation of Go (RE2) regular expressions, the syntax of every regex in a
 * Centrifugo config (channel_regex, issuer_regex, audience_regex), into JavaScript RegExp
 * source. The pattern is parsed the way Go's regexp/syntax parses it with the Perl flags, so a
 * pattern Go rejects is rejected here too, and the output (always compiled with the `v` flag)
 * matches what Go matches. Matching stays unanchored, like Go's FindStringSubmatch.
 *
 * Known differences, all at the edges of Unicode: JavaScript cannot switch case folding inside
 * one pattern, so `(?i)` must cover every case-sensitive part of it (otherwise a GoRegexError);
 * under `(?i)` JavaScript's `\b` also counts U+017F and U+212A as word characters; `\p{...}`
 * names follow V8's Unicode version and accept the aliases V8 knows; and a JavaScript regex
 * backtracks, so unlike RE2 it is not linear time on every input (callers bound input sizes).
 */

/** A pattern Go would refuse, or one JavaScript cannot express; the message reads like Go's. */
export class GoRegexError extends SyntaxError {
  /** Stable code callers branch on. */
  readonly code = 'GO_REGEX_INVALID';

  constructor(message: string) {
    super(message);
    this.name = 'GoRegexError';
  }
}

/** JavaScript source and flags for one Go pattern. */
export interface TranslatedGoRegex {
  source: string;
  flags: string;
}

/** Compiles a Go (RE2) regex to an equivalent JavaScript RegExp; throws GoRegexError. */
export function compileGoRegex(pattern: string): RegExp {
  const { source, flags } = translateGoRegex(pattern);
  try {
    return new RegExp(source, flags);
  } catch (err) {
    // A translation JavaScript refuses (e.g. a \p name V8 does not know): report it as a Go error.
    throw new GoRegexError(`error parsing regexp: ${(err as Error).message}: \`${pattern}\``);
  }
}

/** Translates a Go (RE2) regex to JavaScript source plus flags (always `v`); throws GoRegexError. */
export function translateGoRegex(pattern: string): TranslatedGoRegex {
  return new Translator(pattern).run();
}

const MAX_REPEAT = 1000;
const MAX_DEPTH = 1000;
const MAX_RUNE = 0x10ffff;

interface Flags {
  /** (?i) case-insensitive */
  i: boolean;
  /** (?m) ^ and $ match at line boundaries */
  m: boolean;
  /** (?s) . matches \n */
  s: boolean;
  /** (?U) repetitions prefer fewer */
  U: boolean;
}

/** One emitted element of a concatenation, with what repetition checks need. */
interface Atom {
  src: string;
  /** Already carries a quantifier (a second one needs a group around it in JavaScript). */
  quantified?: boolean;
  /** Counted repetition of this atom (null: none); kids are the atoms inside a group. */
  node: RepeatNode;
}

/** A tree of counted repetitions, enough to apply Go's nested repeat limit. */
interface RepeatNode {
  /** max count of a counted repetition (min when unbounded), or -1 when this is no counted repeat */
  count: number;
  kids: RepeatNode[];
}

interface Group {
  open: string;
  name?: string;
  flagsAtOpen: Flags;
  alternatives: string[];
  nodes: RepeatNode[];
  current: Atom[];
}

const SPACE_CLASS = '\\t\\n\\f\\r\\x20';

/** Perl class escapes (ASCII, as in Go): contents of a JS class, and whether case folding matters. */
const PERL_CLASSES: Record<string, { body: string; negated: boolean; cased: boolean }> = {
  d: { body: '0-9', negated: false, cased: false },
  D: { body: '0-9', negated: true, cased: false },
  s: { body: SPACE_CLASS, negated: false, cased: false },
  S: { body: SPACE_CLASS, negated: true, cased: false },
  w: { body: '0-9A-Za-z_', negated: false, cased: true },
  W: { body: '0-9A-Za-z_', negated: true, cased: true },
};

/** POSIX classes inside brackets (ASCII, as in Go). */
const POSIX_CLASSES: Record<string, { body: string; cased: boolean }> = {
  alnum: { body: '0-9A-Za-z', cased: true },
  alpha: { body: 'A-Za-z', cased: true },
  ascii: { body: '\\x00-\\x7f', cased: true },
  blank: { body: '\\t\\x20', cased: false },
  cntrl: { body: '\\x00-\\x1f\\x7f', cased: false },
  digit: { body: '0-9', cased: false },
  graph: { body: '\\x21-\\x7e', cased: true },
  lower: { body: 'a-z', cased: true },
  print: { body: '\\x20-\\x7e', cased: true },
  punct: { body: '\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e', cased: false },
  space: { body: '\\t\\n\\x0b\\f\\r\\x20', cased: false },
  upper: { body: 'A-Z', cased: true },
  word: { body: '0-9A-Za-z_', cased: true },
  xdigit: { body: '0-9A-Fa-f', cased: true },
};

/** Go's general categories (Go's C excludes unassigned code points, JavaScript's includes them). */
const CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Cn', 'Co', 'Cs', 'L', 'LC', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn',
  'N', 'Nd', 'Nl', 'No', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'S', 'Sc', 'Sk', 'Sm', 'So',
  'Z', 'Zl', 'Zp', 'Zs',
]);

/** Categories whose members have no case variants, so (?i) cannot change them. */
const UNCASED_CATEGORIES = new Set(['C', 'Cc', 'Cf', 'Cn', 'Co', 'Cs', 'Nd', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'Z', 'Zl', 'Zp', 'Zs']);

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** One code point as JavaScript source, safe outside and inside a `v`-mode class. */
function emitChar(c: number): string {
  if (isAlnum(c) || c === 0x5f || (c > 0x7f && !(c >= 0xd800 && c <= 0xdfff))) return String.fromCodePoint(c);
  return `\\u{${c.toString(16)}}`;
}

/** Whether case folding can change what the code point matches. */
function isCasedChar(c: number): boolean {
  const s = String.fromCodePoint(c);
  return s.toLowerCase() !== s || s.toUpperCase() !== s || c === 0x212a || c === 0x17f;
}

function isCasedRange(lo: number, hi: number): boolean {
  if (hi - lo > 4096) return true;
  for (let c = lo; c <= hi; c++) if (isCasedChar(c)) return true;
  return false;
}

class Translator {
  private readonly cps: number[];
  private pos = 0;
  private flags: Flags = { i: false, m: false, s: false, U: false };
  private readonly stack: Group[] = [];
  private group: Group;
  private readonly names = new Set<string>();
  private casedFolded = false;
  private casedPlain = false;

  constructor(private readonly pattern: string) {
    this.cps = [];
    for (const ch of pattern) {
      const c = ch.codePointAt(0) as number;
      if (c >= 0xd800 && c <= 0xdfff) this.fail('invalid UTF-8', pattern);
      this.cps.push(c);
    }
    this.group = this.newGroup('', undefined);
  }

  run(): TranslatedGoRegex {
    let lastWasRepeat = false;
    while (this.pos < this.cps.length) {
      const start = this.pos;
      const c = this.cps[this.pos] as number;
      let repeated = false;
      switch (c) {
        case 0x28: // (
          this.openGroup();
          break;
        case 0x7c: // |
          this.pos++;
          this.endAlternative();
          break;
        case 0x29: // )
          this.pos++;
          this.closeGroup();
          break;
        case 0x5e: // ^
          this.pos++;
          this.push(this.flags.m ? '(?:^|(?<=\\n))' : '(?:^)', false);
          break;
        case 0x24: // $
          this.pos++;
          this.push(this.flags.m ? '(?:$|(?=\\n))' : '(?:$)', false);
          break;
        case 0x2e: // .
          this.pos++;
          this.push(this.flags.s ? '[^]' : '[^\\n]', false);
          break;
        case 0x5b: // [
          this.parseClass();
          break;
        case 0x2a: // *
        case 0x2b: // +
        case 0x3f: // ?
          this.pos++;
          this.repeat(String.fromCodePoint(c), -1, start, lastWasRepeat);
          repeated = true;
          break;
        case 0x7b: {
          // {
          const r = this.parseRepeat();
          if (r === undefined) {
            this.pos++;
            this.literal(c);
            break;
          }
          const [min, max] = r;
          const text = this.text(start, this.pos);
          if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
            this.fail('invalid repeat count', text);
          }
          const quant = max === min ? `{${min}}` : max < 0 ? `{${min},}` : `{${min},${max}}`;
          this.repeat(quant, max < 0 ? min : max, start, lastWasRepeat, min >= 2 || max >= 2);
          repeated = true;
          break;
        }
        case 0x5c: // backslash
          this.parseEscapeOutside();
          break;
        default:
          this.pos++;
          this.literal(c);
      }
      lastWasRepeat = repeated;
    }
    this.endAlternative();
    if (this.stack.length > 0) this.fail('missing closing )', this.pattern);
    const source = this.group.alternatives.join('|');
    if (this.casedFolded && this.casedPlain) {
      throw new GoRegexError(
        `error parsing regexp: case-insensitive (?i) must cover the whole pattern, JavaScript cannot switch it on or off inside: \`${this.pattern}\``,
      );
    }
    return { source, flags: this.casedFolded ? 'iv' : 'v' };
  }

  private fail(code: string, expr: string): never {
    throw new GoRegexError(`error parsing regexp: ${code}: \`${expr}\``);
  }

  private text(from: number, to: number): string {
    let out = '';
    for (let k = from; k < to && k < this.cps.length; k++) out += String.fromCodePoint(this.cps[k] as number);
    return out;
  }

  private newGroup(open: string, name: string | undefined): Group {
    return { open, name, flagsAtOpen: { ...this.flags }, alternatives: [], nodes: [], current: [] };
  }

  private push(src: string, cased: boolean, node: RepeatNode = { count: -1, kids: [] }): void {
    if (cased) {
      if (this.flags.i) this.casedFolded = true;
      else this.casedPlain = true;
    }
    this.group.current.push({ src, node });
  }

  private literal(c: number): void {
    this.push(emitChar(c), isCasedChar(c));
  }

  private repeat(quant: string, count: number, start: number, lastWasRepeat: boolean, counted = false): void {
    let lazy = false;
    if (this.cps[this.pos] === 0x3f) {
      this.pos++;
      lazy = true;
    }
    if (lastWasRepeat) this.fail('invalid nested repetition operator', this.text(start, this.pos));
    const atom = this.group.current[this.group.current.length - 1];
    if (atom === undefined) this.fail('missing argument to repetition operator', this.text(start, this.pos));
    if (this.flags.U) lazy = !lazy;
    const node: RepeatNode = { count: counted || quant.startsWith('{') ? count : -1, kids: [atom.node] };
    if (counted && !repeatIsValid(node, MAX_REPEAT)) this.fail('invalid repeat count', this.text(start, this.pos));
    const base = atom.quantified ? `(?:${atom.src})` : atom.src;
    atom.src = `${base}${quant}${lazy ? '?' : ''}`;
    atom.quantified = true;
    atom.node = node;
  }

  /**
   * `{n}`, `{n,}`, `{n,m}` at pos as [min, max] (max -1 = unbounded, min -1 = a number too big);
   * undefined when it is not one, and then `{` is a literal, as in Go.
   */
  private parseRepeat(): [number, number] | undefined {
    let p = this.pos + 1;
    const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
    const readInt = (): number | undefined => {
      if (!isDigit(this.cps[p])) return undefined;
      // Leading zeros make it no repeat at all.
      if (this.cps[p] === 0x30 && isDigit(this.cps[p + 1])) return undefined;
      let n = 0;
      while (isDigit(this.cps[p])) {
        if (n >= 0) n = n >= 1e8 ? -1 : n * 10 + ((this.cps[p] as number) - 0x30);
        p++;
      }
      return n;
    };
    let min = readInt();
    if (min === undefined) return undefined;
    let max = min;
    if (this.cps[p] === 0x2c) {
      p++;
      if (this.cps[p] === 0x7d) max = -1;
      else {
        const m = readInt();
        if (m === undefined) return undefined;
        if (m < 0) min = -1;
        max = m;
      }
    }
    if (this.cps[p] !== 0x7d) return undefined;
    this.pos = p + 1;
    return [min, max];
  }

  private openGroup(): void {
    const start = this.pos;
    if (this.cps[this.pos + 1] !== 0x3f) {
      this.pos++;
      this.enter('(', undefined);
      return;
    }
    const rest = this.text(this.pos, this.cps.length);
    const named = /^\(\?P?<([^>]*)>/.exec(rest);
    if (named !== null && (rest.startsWith('(?P<') || rest.startsWith('(?<'))) {
      const name = named[1] as string;
      if (!/^[A-Za-z0-9_]+$/.test(name)) this.fail('invalid named capture', named[0]);
      if (/^[0-9]/.test(name)) {
        throw new GoRegexError(
          `error parsing regexp: capture names starting with a digit cannot be expressed in JavaScript: \`${named[0]}\``,
        );
      }
      if (this.names.has(name)) this.fail('duplicate capture group name', name);
      this.names.add(name);
      this.pos += Array.from(named[0]).length;
      this.enter(`(?<${name}>`, name);
      return;
    }
    if (rest.startsWith('(?P<') || rest.startsWith('(?<')) this.fail('invalid named capture', rest);
    // Flags and non-capturing groups: (?flags), (?flags:re), (?:re), (?-flags) ...
    this.pos += 2;
    const next = { ...this.flags };
    let negate = false;
    let sawFlag = false;
    while (this.pos < this.cps.length) {
      const c = this.cps[this.pos++] as number;
      const ch = String.fromCodePoint(c);
      if (ch === 'i' || ch === 'm' || ch === 's' || ch === 'U') {
        next[ch] = !negate;
        sawFlag = true;
        continue;
      }
      if (ch === '-' && !negate) {
        negate = true;
        sawFlag = false;
        continue;
      }
      if ((ch === ':' || ch === ')') && !(negate && !sawFlag)) {
        if (ch === ':') this.enter('(?:', undefined);
        this.flags = next;
        return;
      }
      break;
    }
    this.fail('invalid or unsupported Perl syntax', this.text(start, this.pos));
  }

  private enter(open: string, name: string | undefined): void {
    if (this.stack.length + 1 >= MAX_DEPTH) this.fail('expression nests too deeply', this.pattern);
    this.stack.push(this.group);
    this.group = this.newGroup(open, name);
  }

  private endAlternative(): void {
    const g = this.group;
    g.alternatives.push(g.current.map((a) => a.src).join(''));
    for (const a of g.current) g.nodes.push(a.node);
    g.current = [];
  }

  private closeGroup(): void {
    const parent = this.stack.pop();
    if (parent === undefined) this.fail('unexpected )', this.pattern);
    this.endAlternative();
    const g = this.group;
    this.group = parent;
    this.flags = g.flagsAtOpen;
    this.group.current.push({ src: `${g.open}${g.alternatives.join('|')})`, node: { count: -1, kids: g.nodes } });
  }

  /** A backslash outside a class: anchors, \Q...\E, classes, then single-character escapes. */
  private parseEscapeOutside(): void {
    const start = this.pos;
    const next = this.cps[this.pos + 1];
    const ch = next === undefined ? '' : String.fromCodePoint(next);
    switch (ch) {
      case 'A':
        this.pos += 2;
        this.push('(?:^)', false);
        return;
      case 'z':
        this.pos += 2;
        this.push('(?:$)', false);
        return;
      case 'b':
        this.pos += 2;
        this.push('(?:\\b)', false);
        return;
      case 'B':
        this.pos += 2;
        this.push('(?:\\B)', false);
        return;
      case 'C':
        return this.fail('invalid escape sequence', '\\C');
      case 'Q': {
        this.pos += 2;
        let end = this.pos;
        while (end < this.cps.length && !(this.cps[end] === 0x5c && this.cps[end + 1] === 0x45)) end++;
        for (let k = this.pos; k < end; k++) this.literal(this.cps[k] as number);
        this.pos = end < this.cps.length ? end + 2 : end;
        return;
      }
      case 'p':
      case 'P': {
        const { src, cased } = this.parseUnicodeClass();
        this.push(src, cased);
        return;
      }
    }
    const perl = PERL_CLASSES[ch];
    if (perl !== undefined) {
      this.pos += 2;
      this.push(`[${perl.negated ? '^' : ''}${perl.body}]`, perl.cased);
      return;
    }
    this.pos = start;
    this.literal(this.parseEscape());
  }

  /** Go's single-character escapes (octal, hex, C escapes, escaped punctuation); pos at the backslash. */
  private parseEscape(): number {
    const start = this.pos;
    this.pos++;
    const c = this.cps[this.pos++];
    if (c === undefined) this.fail('trailing backslash at end of expression', '');
    const invalid = (): never => this.fail('invalid escape sequence', this.text(start, this.pos));
    if (c < 0x80 && !isAlnum(c)) return c;
    const isOctal = (d: number | undefined): d is number => d !== undefined && d >= 0x30 && d <= 0x37;
    if (c >= 0x31 && c <= 0x37 && !isOctal(this.cps[this.pos])) return invalid();
    if (c >= 0x30 && c <= 0x37) {
      let r = c - 0x30;
      for (let k = 1; k < 3 && isOctal(this.cps[this.pos]); k++) r = r * 8 + ((this.cps[this.pos++] as number) - 0x30);
      return r;
    }
    switch (String.fromCodePoint(c)) {
      case 'x': {
        if (this.cps[this.pos] === 0x7b) {
          this.pos++;
          let r = 0;
          let n = 0;
          for (;;) {
            const d = this.cps[this.pos++];
            if (d === undefined) return invalid();
            if (d === 0x7d) break;
            const v = hexValue(d);
            if (v < 0) return invalid();
            r = r * 16 + v;
            if (r > MAX_RUNE) return invalid();
            n++;
          }
          return n === 0 ? invalid() : r;
        }
        const x = hexValue(this.cps[this.pos++]);
        const y = hexValue(this.cps[this.pos++]);
        if (x < 0 || y < 0) {
          this.pos = Math.min(this.pos, this.cps.length);
          return invalid();
        }
        return x * 16 + y;
      }
      case 'a':
        return 0x07;
      case 'f':
        return 0x0c;
      case 'n':
        return 0x0a;
      case 'r':
        return 0x0d;
      case 't':
        return 0x09;
      case 'v':
        return 0x0b;
    }
    return invalid();
  }

  /** `\pN`, `\p{Name}`, `\PN`, `\P{^Name}` at pos; returns JS source usable in and out of a class. */
  private parseUnicodeClass(): { src: string; cased: boolean } {
    const start = this.pos;
    let negated = this.cps[this.pos + 1] === 0x50;
    this.pos += 2;
    let name: string;
    if (this.cps[this.pos] === 0x7b) {
      const close = this.cps.indexOf(0x7d, this.pos);
      if (close < 0) this.fail('invalid character class range', this.text(start, this.cps.length));
      name = this.text(this.pos + 1, close);
      this.pos = close + 1;
    } else {
      const c = this.cps[this.pos];
      name = c === undefined ? '' : String.fromCodePoint(c);
      if (c !== undefined) this.pos++;
    }
    const seq = this.text(start, this.pos);
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    let body: string;
    let cased = !UNCASED_CATEGORIES.has(name);
    if (name === 'Any') {
      body = '\\u{0}-\\u{10ffff}';
    } else if (name === 'Assigned') {
      body = '\\P{Cn}';
    } else if (name === 'ASCII') {
      body = '\\x00-\\x7f';
    } else if (name === 'C') {
      // Go's C is Cc|Cf|Co|Cs: unassigned code points are not in it.
      body = '\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}';
    } else if (CATEGORIES.has(name)) {
      body = `\\p{${name}}`;
    } else if (/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
      body = `\\p{Script=${name}}`;
    } else {
      this.fail('invalid character class range', seq);
    }
    try {
      new RegExp(`[${body}]`, 'v');
    } catch {
      this.fail('invalid character class range', seq);
    }
    return { src: `[${negated ? '^' : ''}${body}]`, cased };
  }

  /** A bracket class at pos, emitted as one `v`-mode class (nested classes for named groups). */
  private parseClass(): void {
    const start = this.pos;
    this.pos++;
    let negated = false;
    if (this.cps[this.pos] === 0x5e) {
      negated = true;
      this.pos++;
    }
    const items: string[] = [];
    let cased = false;
    let first = true;
    const missing = (): never => this.fail('missing closing ]', this.text(start, this.cps.length));
    for (;;) {
      const c = this.cps[this.pos];
      if (c === undefined) missing();
      if (c === 0x5d && !first) break;
      first = false;
      if (c === 0x5b && this.cps[this.pos + 1] === 0x3a) {
        const rest = this.text(this.pos, this.cps.length);
        const end = rest.indexOf(':]', 2);
        if (end >= 0) {
          const whole = rest.slice(0, end + 2);
          let name = whole.slice(2, -2);
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const posix = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
          if (posix === undefined) this.fail('invalid character class range', whole);
          items.push(`[${neg ? '^' : ''}${posix.body}]`);
          cased ||= posix.cased;
          this.pos += Array.from(whole).length;
          continue;
        }
      }
      if (c === 0x5c) {
        const n = this.cps[this.pos + 1];
        if (n === 0x70 || n === 0x50) {
          const u = this.parseUnicodeClass();
          items.push(u.src);
          cased ||= u.cased;
          continue;
        }
        const perl = n === undefined ? undefined : PERL_CLASSES[String.fromCodePoint(n)];
        if (perl !== undefined) {
          this.pos += 2;
          items.push(`[${perl.negated ? '^' : ''}${perl.body}]`);
          cased ||= perl.cased;
          continue;
        }
      }
      const rangeStart = this.pos;
      const lo = this.classChar(missing);
      let hi = lo;
      if (this.cps[this.pos] === 0x2d && this.cps[this.pos + 1] !== undefined && this.cps[this.pos + 1] !== 0x5d) {
        this.pos++;
        hi = this.classChar(missing);
        if (hi < lo) this.fail('invalid character class range', this.text(rangeStart, this.pos));
      }
      items.push(lo === hi ? emitChar(lo) : `${emitChar(lo)}-${emitChar(hi)}`);
      cased ||= isCasedRange(lo, hi);
    }
    this.pos++;
    this.push(`[${negated ? '^' : ''}${items.join('')}]`, cased);
  }

  private classChar(missing: () => never): number {
    const c = this.cps[this.pos];
    if (c === undefined) return missing();
    if (c === 0x5c) {
      if (this.pos + 1 >= this.cps.length) return missing();
      return this.parseEscape();
    }
    this.pos++;
    return c;
  }
}

/**
 * Go's limit on nested counted repetitions: along any path the product of the counts must stay
 * within `n` (checked with Go's integer division, so the same patterns pass).
 */
function repeatIsValid(node: RepeatNode, n: number): boolean {
  let budget = n;
  if (node.count >= 0) {
    const m = node.count;
    if (m === 0) return true;
    if (m > budget) return false;
    if (m > 0) budget = Math.floor(budget / m);
  }
  return node.kids.every((k) => repeatIsValid(k, budget));
}
