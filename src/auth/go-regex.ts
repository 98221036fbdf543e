/**
 * JWKS-template safety analysis of Go (RE2) patterns: which named groups can only capture a
 * fixed list of literals. Compiling the patterns is not done here: the verifier is handed the
 * one Go-regex compiler the whole config uses (JwtVerifierOptions.compileRegex).
 */

const CLASS_SHORTHANDS = new Set(['d', 'D', 'w', 'W', 's', 'S', 'p', 'P']);

/** Returns a reason when the pattern contains a character class (`[...]`, `\d`, `\w`, `\s`, `\p` and negations). */
export function charClassProblem(pattern: string): string | undefined {
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '[') return 'contains a character class ([...])';
    if (ch === '\\') {
      const next = pattern[i + 1];
      if (next !== undefined && CLASS_SHORTHANDS.has(next)) return `contains the character class shorthand \\${next}`;
      i++;
    }
  }
  return undefined;
}

const META = new Set(['.', '*', '+', '?', '{', '}', '(', ')', '[', ']', '^', '$', '|', '\\']);
const QUANTIFIERS = new Set(['*', '+', '?', '{']);
// Go allows a group name to start with a digit (`(?P<1st>...)`), and so must this reading:
// a named group it does not recognise would escape the literal check.
const GROUP_NAME = /^\?P?<([A-Za-z0-9_]+)>/;

/**
 * Checks whether each named group of a (class-free) pattern can only match a finite set of
 * fixed strings: literals, escaped punctuation, alternation and nested groups, with no
 * wildcard, quantifier, anchor or escape class. Returns the verdict per group name; a
 * pattern it cannot read yields an empty map.
 */
export function literalGroups(pattern: string): Map<string, boolean> {
  const verdicts = new Map<string, boolean>();
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (ch !== '(') continue;
    const name = GROUP_NAME.exec(pattern.slice(i + 1));
    if (!name || name[1] === undefined) continue;
    const bodyStart = i + 1 + name[0].length;
    const parsed = parseLiteralAlternation(pattern, bodyStart);
    verdicts.set(name[1], parsed.literal && pattern[parsed.end] === ')');
  }
  return verdicts;
}

interface ParseResult {
  literal: boolean;
  /** Index of the character that stopped the parse (a `)` or the end). */
  end: number;
}

/** Parses `alt ('|' alt)*` from `pos` up to an unmatched `)` or the end. */
function parseLiteralAlternation(p: string, pos: number): ParseResult {
  let i = pos;
  while (i < p.length) {
    const ch = p[i] as string;
    if (ch === ')') return { literal: true, end: i };
    if (ch === '|') {
      i++;
      continue;
    }
    if (ch === '\\') {
      const next = p[i + 1];
      // Only escaped punctuation is a plain literal; escaped letters are classes, anchors or control characters.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return { literal: false, end: i };
      i += 2;
    } else if (ch === '(') {
      let inner = i + 1;
      if (p.startsWith('?:', inner)) inner += 2;
      else if (p[inner] === '?') {
        const name = GROUP_NAME.exec(p.slice(inner));
        if (!name) return { literal: false, end: i };
        inner += name[0].length;
      }
      const sub = parseLiteralAlternation(p, inner);
      if (!sub.literal || p[sub.end] !== ')') return { literal: false, end: sub.end };
      i = sub.end + 1;
    } else if (META.has(ch)) {
      return { literal: false, end: i };
    } else {
      i++;
    }
    const following = p[i];
    if (following !== undefined && QUANTIFIERS.has(following)) return { literal: false, end: i };
  }
  return { literal: true, end: i };
}
