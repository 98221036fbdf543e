import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RE2JS } from 're2js';
import { GoRegexError, compileGoRegex } from './go-regex.js';

/** [Go pattern, input, text of the leftmost-first match (as Go's FindString) or null for none]. */
type MatchCase = [pattern: string, input: string, match: string | null];

// Expected results follow Go's regexp semantics (regexp/syntax doc and its test tables).
const MATCHES: MatchCase[] = [
  // \A and \z are text anchors; $ without (?m) is also end of text only (no "before final \n").
  ['\\Ahttps://issuer\\.example\\.com\\z', 'https://issuer.example.com', 'https://issuer.example.com'],
  ['\\Ahttps://issuer\\.example\\.com\\z', 'Ahttps://issuer.example.comz', null],
  ['\\Ahttps://issuer\\.example\\.com\\z', 'https://issuer.example.com\n', null],
  ['\\Ahttps://issuer\\.example\\.com\\z', 'xhttps://issuer.example.com', null],
  ['^abc$', 'abc\n', null],
  ['^abc$', 'x\nabc', null],
  ['ab$', 'cab', 'ab'],
  ['/$', '/abc', null],
  // (?m): line anchors at \n only (not \r, U+2028 as JavaScript's m flag would).
  ['(?m)^abc$', 'x\nabc\ny', 'abc'],
  ['(?m)^b', 'a\rb', null],
  ['(?m)^b', 'a\u2028b', null],
  ['(?m)a$', 'a\nb', 'a'],
  ['(?m)a$', 'a\rb', null],
  ['\\Aa', 'b\na', null],
  ['(?m)\\Aa', 'b\na', null],
  ['(?m)a\\z', 'a\nb', null],
  // . excludes only \n; (?s) includes it.
  ['a.b', 'a\rb', 'a\rb'],
  ['a.b', 'a\u2028b', 'a\u2028b'],
  ['a.b', 'a\nb', null],
  ['(?s)a.b', 'a\nb', 'a\nb'],
  ['(?-s)(?:(?:^).)', '\n', null],
  ['(?s)(?:(?:^).)', '\n', '\n'],
  ['^.$', '😀', '😀'],
  ['[^\\n]+', 'abcd\n', 'abcd'],
  // Perl classes are ASCII; \s is [\t\n\f\r ] (no \v).
  ['\\s', '\v', null],
  ['\\s', '\u00a0', null],
  ['\\s', '\f', '\f'],
  ['[[:space:]]', '\v', '\v'],
  ['\\d', '٣', null],
  ['\\w', 'é', null],
  ['\\W', 'é', 'é'],
  ['\\S+', ' ab ', 'ab'],
  ['[\\S]+', ' ab', 'ab'],
  ['[^\\S\\s]', 'abcd', null],
  ['[^\\S[:space:]]', 'abcd', null],
  ['[^\\D\\d]', 'abcd', null],
  ['[^\\D[:digit:]]', 'abcd', null],
  // Unicode classes.
  ['\\pL+', '12éa3', 'éa'],
  ['\\p{L}+', '12éa3', 'éa'],
  ['\\pN', '٣', '٣'],
  ['\\p{Nd}', '٣', '٣'],
  ['\\p{Greek}+', 'abcαβγ', 'αβγ'],
  ['\\P{Greek}+', 'αβγabc', 'abc'],
  ['\\p{^Greek}+', 'αβγabc', 'abc'],
  ['\\P{^Greek}+', 'abcαβγ', 'αβγ'],
  ['[\\p{Greek}\\d]+', 'xα1βy', 'α1β'],
  ['[^\\p{Greek}]+', 'αβabc', 'abc'],
  ['\\p{Lu}', 'aB', 'B'],
  ['\\p{Han}', '日本', '日'],
  ['\\p{C}', '\u0001', '\u0001'],
  ['\\p{Any}', '\n', '\n'],
  // Case folding.
  ['(?i)abc', 'xABC', 'ABC'],
  ['(?i)k', '\u212a', '\u212a'],
  ['(?i)s', '\u017f', '\u017f'],
  ['(?i)[k]', '\u212a', '\u212a'],
  ['(?i)[^k]', '\u212a', null],
  ['(?i)\\W', 'k', null],
  ['(?i)\\W', 's', null],
  ['(?i:abc)', 'ABC', 'ABC'],
  ['(?i)[[:upper:]]+', 'abC', 'abC'],
  ['(?i)Δ', 'δ', 'δ'],
  // Repetition, greediness, (?U).
  ['a+', 'baaab', 'aaa'],
  ['a*?b', 'aab', 'aab'],
  ['a{2}', 'aaa', 'aa'],
  ['a{2,}', 'aaaa', 'aaaa'],
  ['a{1,2}?', 'aa', 'a'],
  ['(?U)a+', 'aaa', 'a'],
  ['(?U)a+?', 'aaa', 'aaa'],
  ['(?U:a+)a*', 'aaa', 'aaa'],
  ['(a){0}', '', ''],
  ['(aa)*$', 'a', ''],
  ['^*a', 'a', 'a'],
  ['x(?:\\b)+', 'x y', 'x'],
  // Braces that are not a repeat are literals.
  ['a{,3}', 'a{,3}', 'a{,3}'],
  ['a{', 'a{', 'a{'],
  ['a{1', 'a{1', 'a{1'],
  ['a{01}', 'a{01}', 'a{01}'],
  ['}]', '}]', '}]'],
  // \Q...\E quoting.
  ['\\Q*+?{[\\E', '*+?{[', '*+?{['],
  ['\\Qab\\E+', 'abbb', 'abbb'],
  ['\\Qa.b', 'axb', null],
  ['\\Qa.b', 'a.b', 'a.b'],
  ['\\Q\\\\E', '\\', '\\'],
  // Escapes.
  ['\\a\\f\\n\\r\\t\\v', '\x07\f\n\r\t\v', '\x07\f\n\r\t\v'],
  ['[\\a\\f\\n\\r\\t\\v]+', '\x07\f\n\r\t\v', '\x07\f\n\r\t\v'],
  ['\\x41\\101\\x{1F600}', 'AA😀', 'AA😀'],
  ['\\0', '\0', '\0'],
  ['\\12', '\n', '\n'],
  ['\\!\\"\\#\\$\\%\\&\\\'\\(\\)\\*\\+\\,\\-\\.\\/\\:\\;\\<\\=\\>\\?\\@\\[\\\\\\]\\^\\_\\{\\|\\}\\~', '!"#$%&\'()*+,-./:;<=>?@[\\]^_{|}~', '!"#$%&\'()*+,-./:;<=>?@[\\]^_{|}~'],
  ['[\\!\\"\\#\\$\\%\\&\\\'\\(\\)\\*\\+\\,\\-\\.\\/\\:\\;\\<\\=\\>\\?\\@\\[\\\\\\]\\^\\_\\{\\|\\}\\~]+', '!"#$%&\'()*+,-./:;<=>?@[\\]^_{|}~', '!"#$%&\'()*+,-./:;<=>?@[\\]^_{|}~'],
  ['\\`', '`', '`'],
  // Bracket classes.
  ['[a\\-\\]z]+', 'az]-bcz', 'az]-'],
  ['[a-b-c]+', 'x-cab', '-cab'],
  ['[]a]+', 'x]a]', ']a]'],
  ['[^]a]', ']ab', 'b'],
  ['[[:alpha:]]+', '12abC3', 'abC'],
  ['[[:^alpha:]]+', 'ab12c', '12'],
  ['[^[:digit:]a]+', '1ab2', 'b'],
  ['[[:word:][:punct:]]+', ' a_!b ', 'a_!b'],
  ['[[a]+', '[a[', '[a['],
  ['[.]', 'x.', '.'],
  ['[日本語]+', '日本語日本語', '日本語日本語'],
  // Groups and alternation (leftmost-first, like Perl and JavaScript).
  ['(?P<tenant>acme|globex)\\.example', 'globex.example', 'globex.example'],
  ['(?<t>x)y', 'xy', 'xy'],
  ['0A|0[aA]', '0a', '0a'],
  ['a|b|', 'c', ''],
  ['(?:A|(?:A|a))', 'a', 'a'],
  ['\\bx\\b', 'ax x', 'x'],
  ['\\Bx', 'ax', 'x'],
  ['(?)a', 'a', 'a'],
];

// Go rejects all of these (regexp/syntax with the Perl flags).
const INVALID = [
  '(', ')', '(a', 'a)', '(a))', '(a|b|', 'a|b|)', '(a|b|))', '(a|b', 'a|b)', '[a-z', '([a-z)', '[a-z)', '([a-z]))',
  'x{1001}', 'x{9876543210}', 'x{2,1}', 'x{1,9876543210}', 'a{100000}', 'a{100000,}',
  '((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}){2})', '(a{10}){101}',
  '('.repeat(1000) + ')'.repeat(1000), '(?:'.repeat(1000) + ')*'.repeat(1000),
  '(?P<name>a', '(?P<name>', '(?P<name', '(?P<x y>a)', '(?P<>a)', '(?<name>a', '(?<x y>a)', '(?<>a)',
  '(?P<n>a)(?P<n>b)', '[a-Z]', '(?i)[a-Z]', '\\Q\\E*', '[]', '[^]',
  'a**', 'a++', 'a?*', 'a+*', 'a{1}*', '.{1}{2}.{3}', 'a*??', '*', 'a|*b', '(*a)', '(?i)*',
  '\\8', '\\1', '\\e', '\\Z', '\\C', '\\E', '\\', 'a\\', '\\x', '\\xz1', '\\x{}', '\\x{110000}', '[\\b]', '[\\Q]',
  '(?=a)', '(?!a)', '(?<=a)', '(?<!a)', '(?P=n)', '(?#c)', '(?-)', '(?i-)', '(?z)', '(?--i)', '(?i',
  '\\p{Foo}', '\\pX', '\\p{Greek', '[[:foo:]]', '[[:^foo:]]', '\ud800',
];

// Go accepts all of these.
const VALID = [
  '', '[a-b-c]', '\\Qabc\\E', '\\Q*+?{[\\E', '\\Q\\\\E', '\\Q\\\\\\E', '(?:a)', '(?P<name>a)', '(?<name>a)', '(?)',
  '(?i)(?-i)', 'x{1000}', '(?:x{10}){100}', '(x{2}){2}', '\\_', 'a*?', 'a{2}?', '(?i-s:a.)', '(?sm-U)a', '^*',
  '\\b+', '(|a)*', '((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}))', 'a{,2}', '{', '}', ']',
  '(?i)\\p{Lu}', '\\p{Latin}\\p{Cyrillic}', '[\\p{Nd}[:alpha:]\\W]', '\\x{10FFFF}', '\\177', '(?U)a*?',
];

describe('compileGoRegex: Go (RE2) semantics', () => {
  for (const [pattern, input, want] of MATCHES) {
    it(`${JSON.stringify(pattern)} on ${JSON.stringify(input)} -> ${want === null ? 'no match' : JSON.stringify(want)}`, () => {
      assert.equal(compileGoRegex(pattern).test(input), want !== null);
      // The matched text, which decides what named groups capture, is the library's leftmost-first match.
      assert.equal(RE2JS.compile(pattern).exec(input)?.[0] ?? null, want);
    });
  }

  it('rejects what Go rejects, with a GoRegexError', () => {
    const accepted: string[] = [];
    for (const pattern of INVALID) {
      try {
        compileGoRegex(pattern);
        accepted.push(pattern.length > 40 ? `${pattern.slice(0, 40)}…` : pattern);
      } catch (err) {
        assert.ok(err instanceof GoRegexError, `${pattern}: ${String(err)}`);
        assert.match(err.message, /^error parsing regexp: /);
      }
    }
    assert.deepEqual(accepted, []);
  });

  it('accepts what Go accepts', () => {
    const refused: string[] = [];
    for (const pattern of VALID) {
      try {
        compileGoRegex(pattern);
      } catch (err) {
        refused.push(`${pattern}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(refused, []);
  });

  it('fills named groups like FindStringSubmatch', () => {
    const re = compileGoRegex('^https://(?P<tenant>acme|globex)\\.example\\.com/(?<env>prod|dev)$');
    assert.deepEqual(re.groups('https://acme.example.com/dev'), { tenant: 'acme', env: 'dev' });
    assert.equal(re.groups('https://initech.example.com/dev'), undefined);
    // Unanchored, leftmost-first; a group outside the match is '' (Go's FindStringSubmatch).
    assert.deepEqual(compileGoRegex('(?P<a>x)|(?P<b>y)').groups('--y-x'), { a: '', b: 'y' });
    assert.deepEqual(compileGoRegex('(?P<n>0A|0[aA])').groups('z0a'), { n: '0a' });
    assert.deepEqual(compileGoRegex('(?P<n>a+?)').groups('aaa'), { n: 'a' });
    assert.deepEqual(compileGoRegex('a+').groups('baa'), {});
    assert.equal(compileGoRegex('a+').groups('bb'), undefined);
  });

  it('scopes flags the way Go does and takes group names starting with a digit', () => {
    const scoped = compileGoRegex('a(?i)b');
    assert.equal(scoped.test('aB'), true);
    assert.equal(scoped.test('AB'), false);
    assert.equal(compileGoRegex('(?i:a)b').test('Ab'), true);
    assert.equal(compileGoRegex('(?i:a)b').test('aB'), false);
    assert.equal(compileGoRegex('(?i:abc)-[0-9]+').test('ABC-12'), true);
    assert.deepEqual(compileGoRegex('(?P<1a>x)').groups('x'), { '1a': 'x' });
  });

  it('known difference from Go, in unassigned code points: \\p{C} includes them and \\p{Cn} compiles', () => {
    // Go's C is Cc|Cf|Co|Cs and Go has no Cn table; re2js adds Cn to C.
    assert.equal(compileGoRegex('\\p{C}').test('\u0378'), true);
    assert.equal(compileGoRegex('\\p{Cn}').test('\u0378'), true);
    assert.equal(compileGoRegex('\\p{C}').test('a'), false);
  });

  it('matches in linear time: a pattern that backtracks exponentially elsewhere returns at once', { timeout: 5000 }, () => {
    // A backtracking engine takes about 2^40 steps here; RE2 scans the input once.
    const re = compileGoRegex('^(a+)+$');
    const hostile = 'a'.repeat(40) + '!';
    assert.equal(re.test(hostile), false);
    assert.equal(re.groups(hostile), undefined);
    assert.equal(compileGoRegex('^(?P<x>(a|aa)+)+$').groups(hostile), undefined);
  });
});
