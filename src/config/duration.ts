/**
 * Go duration syntax (`"300s"`, `"1m30s"`, `"1.5s"`, `"-2h"`, `"0"`), as Centrifugo config
 * files and env vars use it. Gyre carries durations as a number of milliseconds (possibly
 * fractional for sub-millisecond values).
 */

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_NS = 9_223_372_036_854_775_807n; // Go's time.Duration is an int64 of nanoseconds.

/** Parses Go duration syntax into nanoseconds; throws `Error` with a Go-like message. */
export function parseDurationNs(input: string): bigint {
  const orig = input;
  let s = input;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new Error(`invalid duration "${orig}"`);
  let total = 0n;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]+)/u;
  while (s !== '') {
    const m = part.exec(s);
    if (m === null) throw new Error(`invalid duration "${orig}"`);
    const intDigits = m[1] ?? '';
    const fracDigits = m[2] ?? '';
    const unitText = m[3] ?? '';
    if (intDigits === '' && fracDigits === '') throw new Error(`invalid duration "${orig}"`);
    const unit = NS_PER_UNIT[unitText];
    if (unit === undefined) {
      throw new Error(`unknown unit "${unitText}" in duration "${orig}"`);
    }
    let value = BigInt(intDigits === '' ? '0' : intDigits) * unit;
    if (fracDigits !== '') {
      // Go truncates the fraction to whole nanoseconds.
      value += (BigInt(fracDigits) * unit) / 10n ** BigInt(fracDigits.length);
    }
    total += value;
    if (total > MAX_NS) throw new Error(`invalid duration "${orig}"`);
    s = s.slice(m[0].length);
  }
  return negative ? -total : total;
}

/** Parses Go duration syntax into milliseconds (`"1m30s"` → 90000, `"1.5ms"` → 1.5). */
export function parseDuration(input: string): number {
  return nsToMs(parseDurationNs(input.trim()));
}

/** Converts nanoseconds to milliseconds without losing whole milliseconds to float rounding. */
export function nsToMs(ns: bigint): number {
  const whole = ns / 1_000_000n;
  const rest = ns % 1_000_000n;
  return Number(whole) + Number(rest) / 1e6;
}

/** Converts milliseconds to whole nanoseconds (fractions below 1ns are dropped, as Go does). */
export function msToNs(ms: number): bigint {
  if (!Number.isFinite(ms)) throw new Error(`invalid duration ${ms}`);
  const whole = Math.trunc(ms);
  const fracNs = Math.round((ms - whole) * 1e6);
  return BigInt(whole) * 1_000_000n + BigInt(fracNs);
}

function fraction(v: bigint, digits: number): { text: string; rest: bigint } {
  // Prints the lowest `digits` decimal digits of v as a fraction, trailing zeros trimmed.
  let text = '';
  let printed = false;
  let rest = v;
  for (let i = 0; i < digits; i++) {
    const digit = rest % 10n;
    printed = printed || digit !== 0n;
    if (printed) text = digit.toString() + text;
    rest /= 10n;
  }
  return { text: printed ? `.${text}` : '', rest };
}

/**
 * Formats milliseconds the way Go prints a time.Duration: `"25s"`, `"1m0s"`, `"720h0m0s"`,
 * `"1.5s"`, `"100ms"`, `"0s"`.
 */
export function formatDuration(ms: number): string {
  const ns = msToNs(ms);
  if (ns === 0n) return '0s';
  const negative = ns < 0n;
  let u = negative ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    if (u < 1_000n) out = `${u}ns`;
    else if (u < 1_000_000n) {
      const f = fraction(u, 3);
      out = `${f.rest}${f.text}µs`;
    } else {
      const f = fraction(u, 6);
      out = `${f.rest}${f.text}ms`;
    }
  } else {
    const f = fraction(u, 9);
    u = f.rest; // whole seconds
    out = `${u % 60n}${f.text}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return negative ? `-${out}` : out;
}
