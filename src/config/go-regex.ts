/**
 * Go (RE2) regular expressions, the syntax of every regex in a Centrifugo config
 * (channel_regex, issuer_regex, audience_regex). Patterns are parsed and run by re2js, a port
 * of RE2: the syntax and error messages are Go's, and matching takes time linear in the input,
 * so no pattern an operator writes can be made to backtrack on an attacker-chosen channel name
 * or token claim. Matching is unanchored, like Go's MatchString / FindStringSubmatch.
 *
 * One known difference from Go: re2js's \p{C} also covers unassigned code points (\p{Cn}, which
 * it accepts and Go does not know); Go's C is Cc|Cf|Co|Cs.
 */
import { RE2JS, RE2JSException } from 're2js';

/** A pattern Go would refuse; the message is Go's ("error parsing regexp: ..."). */
export class GoRegexError extends SyntaxError {
  /** Stable code callers branch on. */
  readonly code = 'GO_REGEX_INVALID';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GoRegexError';
  }
}

/** A compiled Go pattern. */
export interface GoRegex {
  /** True when the pattern matches somewhere in `input` (Go's MatchString). */
  test(input: string): boolean;
  /**
   * The named groups of the leftmost match, a group that took no part in it as '' (Go's
   * FindStringSubmatch with SubexpNames), or undefined when the pattern does not match.
   */
  groups(input: string): Record<string, string> | undefined;
}

const LONE_SURROGATE = /\p{Cs}/u;

/** Compiles a Go (RE2) pattern; throws GoRegexError for one Go rejects. */
export function compileGoRegex(pattern: string): GoRegex {
  // A lone UTF-16 surrogate cannot come from UTF-8 text; Go refuses such a pattern.
  if (LONE_SURROGATE.test(pattern)) throw new GoRegexError(`error parsing regexp: invalid UTF-8: \`${pattern}\``);
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    if (err instanceof RE2JSException) throw new GoRegexError(err.message, { cause: err });
    throw err;
  }
  const names = Object.keys(re.namedGroups());
  return {
    test: (input) => re.test(input),
    groups(input) {
      if (names.length === 0) return re.test(input) ? {} : undefined;
      const m = re.matcher(input);
      if (!m.find()) return undefined;
      const out: Record<string, string> = {};
      for (const name of names) out[name] = m.group(name) ?? '';
      return out;
    },
  };
}
