/**
 * Publication tags filters (subscriptions.md §4): a client sends a FilterNode tree as
 * SubscribeRequest.tf; the server validates it once and compiles it into a predicate over a
 * publication's tags, evaluated for every live publication of that subscription. Pure.
 */
import type { FilterNode } from './types.js';

export type { FilterNode } from './types.js';

/** Tests a publication's tags (absent tags = no tags). Never throws, never allocates per call. */
export type TagsPredicate = (tags: Readonly<Record<string, string>> | undefined) => boolean;

/**
 * Limits a valid filter must respect. Centrifugo documents none; these keep per-publication
 * evaluation cheap and bounded. Exceeding any of them is a validation failure (error 107).
 */
export const FILTER_LIMITS = Object.freeze({
  /** Nesting levels: a lone leaf has depth 1, `not(leaf)` depth 2. */
  maxDepth: 32,
  /** Nodes in the whole tree, logical and leaf. */
  maxNodes: 512,
  /** `vals` entries summed over every `in`/`nin` leaf of the tree. */
  maxVals: 1024,
});

/**
 * Hard caps the codecs enforce while decoding `tf`, above FILTER_LIMITS so that a merely too-big
 * filter still reaches validation and gets error 107; beyond these the frame is rejected as
 * malformed (CodecError, disconnect 3501). They bound recursion and memory per decoded filter.
 */
export const FILTER_DECODE_LIMITS = Object.freeze({
  maxDepth: 64,
  maxNodes: 4096,
  maxVals: 16384,
});

/** The client-facing error for a rejected filter (subscriptions.md §4.1): code 107. */
export const FILTER_ERROR_CODE = 107;

/**
 * Why a filter is invalid. `path` locates the offending node from the root, e.g. `tf.nodes[1]`.
 * Callers answer the subscribe with error 107 (`Errors.badRequest`), whatever the reason.
 */
export class FilterValidationError extends Error {
  readonly code = FILTER_ERROR_CODE;
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`invalid tags filter at ${path}: ${reason}`);
    this.name = 'FilterValidationError';
  }
}

const VALUE_CMPS = new Set(['eq', 'neq', 'sw', 'ew', 'ct', 'gt', 'gte', 'lt', 'lte']);
const SET_CMPS = new Set(['in', 'nin']);
const EXISTS_CMPS = new Set(['ex', 'nex']);

interface Budget {
  nodes: number;
  vals: number;
}

function validateNode(n: unknown, path: string, depth: number, budget: Budget): FilterValidationError | undefined {
  const fail = (reason: string): FilterValidationError => new FilterValidationError(path, reason);
  if (typeof n !== 'object' || n === null || Array.isArray(n)) return fail('node must be an object');
  if (depth > FILTER_LIMITS.maxDepth) return fail(`nesting deeper than ${FILTER_LIMITS.maxDepth} levels`);
  if (++budget.nodes > FILTER_LIMITS.maxNodes) return fail(`more than ${FILTER_LIMITS.maxNodes} nodes`);
  const node = n as FilterNode;
  const op = node.op ?? '';
  const val = node.val ?? '';
  const vals = node.vals ?? [];
  const nodes = node.nodes ?? [];
  if (!Array.isArray(vals) || !Array.isArray(nodes)) return fail('vals and nodes must be arrays');
  switch (op) {
    case '': {
      const cmp = node.cmp ?? '';
      if (cmp === '') return fail('leaf node must have cmp set');
      if (VALUE_CMPS.has(cmp)) {
        if (val === '') return fail(`${cmp} comparison requires val`);
        if (vals.length > 0) return fail(`${cmp} comparison must not use vals`);
      } else if (SET_CMPS.has(cmp)) {
        if (vals.length === 0) return fail(`${cmp} comparison requires non-empty vals`);
        if (val !== '') return fail(`${cmp} comparison must not use val`);
        budget.vals += vals.length;
        if (budget.vals > FILTER_LIMITS.maxVals) return fail(`more than ${FILTER_LIMITS.maxVals} vals in the filter`);
      } else if (EXISTS_CMPS.has(cmp)) {
        if (val !== '' || vals.length > 0) return fail(`${cmp} comparison must not use val or vals`);
      } else {
        return fail(`unknown comparison operator ${JSON.stringify(cmp)}`);
      }
      if ((node.key ?? '') === '' && !EXISTS_CMPS.has(cmp)) return fail('leaf node requires key');
      return undefined;
    }
    case 'and':
    case 'or':
      if (nodes.length === 0) return fail(`${op} node must have at least one child`);
      break;
    case 'not':
      if (nodes.length !== 1) return fail('not node must have exactly one child');
      break;
    default:
      return fail(`invalid op ${JSON.stringify(op)}`);
  }
  for (let i = 0; i < nodes.length; i++) {
    const err = validateNode(nodes[i], `${path}.nodes[${i}]`, depth + 1, budget);
    if (err) return err;
  }
  return undefined;
}

/**
 * Checks a filter tree against subscriptions.md §4.2 and FILTER_LIMITS. Returns the first
 * problem found (depth first, children in order), or undefined when the filter is valid.
 * Recursion is bounded by FILTER_LIMITS.maxDepth whatever the input, cycles included.
 */
export function validateFilter(node: FilterNode): FilterValidationError | undefined {
  return validateNode(node, 'tf', 1, { nodes: 0, vals: 0 });
}

// ---- decimal comparison ----

/**
 * Longest number text accepted, and most fraction digits: numbers past either are unparseable,
 * as in Centrifugo's decimal parser, so gt/gte/lt/lte give the same answers.
 */
export const DECIMAL_MAX_LENGTH = 200;
export const DECIMAL_MAX_FRACTION_DIGITS = 19;

/** A parsed decimal: sign plus the significant integer and fraction digits (no padding zeros). */
interface Decimal {
  neg: boolean;
  int: string;
  frac: string;
}

/** Scratch result of scanDecimal: digit ranges in the scanned string, trimmed of padding zeros. */
interface DecimalSpan {
  neg: boolean;
  intStart: number;
  intEnd: number;
  fracStart: number;
  fracEnd: number;
}

const span: DecimalSpan = { neg: false, intStart: 0, intEnd: 0, fracStart: 0, fracEnd: 0 };

/**
 * Scans `[+-]?[0-9]+(\.[0-9]{1,19})?` into `span` without allocating; false when `s` is not one.
 * Leading integer zeros and trailing fraction zeros are trimmed, so `-0.00` reads as zero.
 */
function scanDecimal(s: string): boolean {
  const len = s.length;
  if (len === 0 || len > DECIMAL_MAX_LENGTH) return false;
  let i = 0;
  let neg = false;
  const first = s.charCodeAt(0);
  if (first === 0x2d || first === 0x2b) {
    neg = first === 0x2d;
    i = 1;
  }
  const intBegin = i;
  while (i < len) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  const intEnd = i;
  if (intEnd === intBegin) return false;
  let fracStart = len;
  let fracEnd = len;
  if (i < len) {
    if (s.charCodeAt(i) !== 0x2e) return false;
    fracStart = ++i;
    while (i < len) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return false;
      i++;
    }
    const digits = len - fracStart;
    if (digits === 0 || digits > DECIMAL_MAX_FRACTION_DIGITS) return false;
    fracEnd = len;
    while (fracEnd > fracStart && s.charCodeAt(fracEnd - 1) === 0x30) fracEnd--;
  }
  let intStart = intBegin;
  while (intStart < intEnd && s.charCodeAt(intStart) === 0x30) intStart++;
  span.intStart = intStart;
  span.intEnd = intEnd;
  span.fracStart = fracStart;
  span.fracEnd = fracEnd;
  // Zero has no sign: -0 equals 0.
  span.neg = neg && (intEnd > intStart || fracEnd > fracStart);
  return true;
}

/** Parses a decimal for the compiled filter; undefined when unparseable. */
function parseDecimal(s: string): Decimal | undefined {
  if (!scanDecimal(s)) return undefined;
  return { neg: span.neg, int: s.slice(span.intStart, span.intEnd), frac: s.slice(span.fracStart, span.fracEnd) };
}

/** Compares the magnitude of the number in `span` (over `s`) with `d`: -1, 0 or 1. */
function compareMagnitude(s: string, d: Decimal): number {
  const intLen = span.intEnd - span.intStart;
  if (intLen !== d.int.length) return intLen < d.int.length ? -1 : 1;
  for (let k = 0; k < intLen; k++) {
    const a = s.charCodeAt(span.intStart + k);
    const b = d.int.charCodeAt(k);
    if (a !== b) return a < b ? -1 : 1;
  }
  // Trimmed fraction digits compare like strings: a shorter prefix is the smaller number.
  const fracLen = span.fracEnd - span.fracStart;
  const common = Math.min(fracLen, d.frac.length);
  for (let k = 0; k < common; k++) {
    const a = s.charCodeAt(span.fracStart + k);
    const b = d.frac.charCodeAt(k);
    if (a !== b) return a < b ? -1 : 1;
  }
  return fracLen === d.frac.length ? 0 : fracLen < d.frac.length ? -1 : 1;
}

/**
 * Compares the decimal text `s` with `d`: -1, 0 or 1, or NaN when `s` is not a number.
 * Exact: `10.50` equals `10.5`, `-0` equals `0`.
 */
function compareDecimal(s: string, d: Decimal): number {
  if (!scanDecimal(s)) return NaN;
  if (span.neg !== d.neg) return span.neg ? -1 : 1;
  const m = compareMagnitude(s, d);
  return span.neg && m !== 0 ? -m : m;
}

/** Exact comparison of two decimal texts (-1, 0, 1), or NaN when either is unparseable. For tests and tools. */
export function compareDecimalText(a: string, b: string): number {
  const d = parseDecimal(b);
  return d === undefined ? NaN : compareDecimal(a, d);
}

// ---- compilation ----

const EMPTY_TAGS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);
const NEVER: TagsPredicate = () => false;

/**
 * Builds the tag lookup for one key: a tag exists when the key holds a string. Keys naming
 * Object.prototype members (`constructor`, `__proto__`, ...) read non-strings from the
 * prototype, so they count as missing unless the tags hold them as own keys (decoders use setEntry).
 */
function tagReader(key: string): (tags: Readonly<Record<string, string>>) => string | undefined {
  return (tags) => {
    const v = tags[key];
    return typeof v === 'string' ? v : undefined;
  };
}

function compileLeaf(n: FilterNode): TagsPredicate {
  const get = tagReader(n.key ?? '');
  const val = n.val ?? '';
  switch (n.cmp) {
    case 'eq':
      return (t) => get(t ?? EMPTY_TAGS) === val;
    case 'neq':
      return (t) => get(t ?? EMPTY_TAGS) !== val;
    case 'in': {
      // A missing tag is compared as the empty string (subscriptions.md §4.2).
      const set = new Set(n.vals);
      return (t) => set.has(get(t ?? EMPTY_TAGS) ?? '');
    }
    case 'nin': {
      const set = new Set(n.vals);
      return (t) => !set.has(get(t ?? EMPTY_TAGS) ?? '');
    }
    case 'ex':
      return (t) => get(t ?? EMPTY_TAGS) !== undefined;
    case 'nex':
      return (t) => get(t ?? EMPTY_TAGS) === undefined;
    case 'sw':
      return (t) => get(t ?? EMPTY_TAGS)?.startsWith(val) === true;
    case 'ew':
      return (t) => get(t ?? EMPTY_TAGS)?.endsWith(val) === true;
    case 'ct':
      return (t) => get(t ?? EMPTY_TAGS)?.includes(val) === true;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const d = parseDecimal(val);
      // An unparseable filter value never matches; it is not a validation error.
      if (d === undefined) return NEVER;
      const test = n.cmp === 'gt' ? (c: number) => c > 0 : n.cmp === 'gte' ? (c: number) => c >= 0 : n.cmp === 'lt' ? (c: number) => c < 0 : (c: number) => c <= 0;
      return (t) => {
        const v = get(t ?? EMPTY_TAGS);
        // NaN (unparseable tag) fails every test.
        return v !== undefined && test(compareDecimal(v, d));
      };
    }
    default:
      // Unreachable after validation.
      throw new FilterValidationError('tf', `unknown comparison operator ${JSON.stringify(n.cmp)}`);
  }
}

function compileNode(n: FilterNode): TagsPredicate {
  const op = n.op ?? '';
  if (op === '') return compileLeaf(n);
  const children = (n.nodes ?? []).map(compileNode);
  if (op === 'not') {
    const child = children[0] as TagsPredicate;
    return (t) => !child(t);
  }
  if (children.length === 1) return children[0] as TagsPredicate;
  if (op === 'and') {
    return (t) => {
      for (let i = 0; i < children.length; i++) if (!(children[i] as TagsPredicate)(t)) return false;
      return true;
    };
  }
  return (t) => {
    for (let i = 0; i < children.length; i++) if ((children[i] as TagsPredicate)(t)) return true;
    return false;
  };
}

/**
 * Validates the filter and compiles it into a predicate: sets for in/nin, the filter value of
 * numeric comparisons parsed once, and/or short-circuit in child order. Throws
 * FilterValidationError when validateFilter would report a problem. The predicate keeps no
 * reference to the input tree, so later changes to it do not affect the predicate.
 */
export function compileFilter(node: FilterNode): TagsPredicate {
  const err = validateFilter(node);
  if (err) throw err;
  return compileNode(node);
}
