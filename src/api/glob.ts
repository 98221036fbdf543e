/**
 * Channel glob patterns for the `channels` API method: `*`, `?`, `[...]` (`[!...]` negates),
 * `{a,b}` and `\` escapes. Channel names have no separators, so `*` and `?` match any
 * character, `:` and `/` included.
 */
import picomatch from 'picomatch';

/** picomatch treats `/` as a path separator; channels have none, so `/` is swapped for a private-use char on both sides. */
const SLASH_STAND_IN = '\uE000';

const OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, noextglob: true };

/** Rewrites a channel glob into a picomatch pattern over slash-free text. */
function toPicomatch(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) {
      const next = pattern[i + 1] as string;
      out += '\\' + (next === '/' ? SLASH_STAND_IN : next);
      i++;
    } else if (c === '[' && pattern[i + 1] === '!') {
      // picomatch v4 does not read `[!...]` as negation; `[^...]` it does.
      out += '[^';
      i++;
    } else {
      out += c === '/' ? SLASH_STAND_IN : c;
    }
  }
  return out;
}

/** Compiles a pattern into a matcher over channel names. Throws when the pattern cannot compile. */
export function compileChannelGlob(pattern: string): (channel: string) => boolean {
  assertBalanced(pattern);
  const matcher = picomatch(toPicomatch(pattern), OPTIONS);
  return (channel) => matcher(channel.replaceAll('/', SLASH_STAND_IN));
}

/** Rejects an unterminated `[` class, `{` group or trailing escape, which picomatch would read literally. */
function assertBalanced(pattern: string): void {
  let inClass = false;
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      if (i + 1 >= pattern.length) throw new Error('trailing escape in pattern');
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === ']' || (pattern[i + 1] === '!' && pattern[i + 2] === ']')) i += pattern[i + 1] === '!' ? 2 : 1;
    } else if (c === '{') braces++;
    else if (c === '}') {
      if (braces === 0) throw new Error('unbalanced } in pattern');
      braces--;
    }
  }
  if (inClass) throw new Error('unterminated [ in pattern');
  if (braces !== 0) throw new Error('unterminated { in pattern');
}
