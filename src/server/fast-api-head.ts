/**
 * The request-head reader of the server API fast path (fast-api.ts). It checks a head byte by
 * byte as it arrives, keeping its place between chunks, and parses it once complete. Any head
 * the fast path does not serve is reported as 'other' as soon as a byte shows it, so that
 * node:http, which rejects malformed heads at the first bad byte, sees it at once.
 */

/** Longest request head (request line and headers) served here; longer ones go to node:http. */
export const MAX_HEAD_BYTES = 8192;

const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;

/** A parsed request head the fast path can serve. */
export interface Head {
  method: string;
  query: string;
  headers: Map<string, string>;
  headEnd: number;
  contentLength: number;
  close: boolean;
}

/** One connection's head reader; reset() after each request. */
export class HeadScanner {
  /** Bytes at the start of the buffer already checked. */
  private scanned = 0;
  /** Where the line being scanned starts (0: the request line). */
  private lineStart = 0;
  /** Where the request line's version starts (0: the target is still being read). */
  private versionAt = 0;
  /** Where the colon of the header line being scanned is (0: not seen yet, in the name). */
  private colonAt = 0;
  /** The head has a Content-Length line already. */
  private sawLength = false;
  /** The scanner is in a Content-Length value. */
  private inLength = false;

  /** Starts over for the next request (its head at the start of the next buffer). */
  reset(): void {
    this.scanned = 0;
    this.lineStart = 0;
    this.versionAt = 0;
    this.colonAt = 0;
    this.sawLength = false;
    this.inLength = false;
  }

  /**
   * Parses the request head at the start of buf: 'more' when it is incomplete, 'other' when
   * node:http must serve it. Bytes are checked as they arrive and each line as it ends, so a
   * head the fast path would not serve (bare LF line ends, control or non-ASCII bytes, folded
   * or malformed header lines, another request line) goes to node:http at once rather than
   * when it is complete: node:http rejects malformed heads as soon as it sees them.
   */
  parse(buf: Buffer, methodOf: (path: string) => string | undefined): Head | 'more' | 'other' {
    // Cheap early exit for everything that is not a POST (WebSocket upgrades, pages, ...).
    const n = Math.min(buf.length, 5);
    for (let i = 0; i < n; i++) if (buf[i] !== POST[i]) return 'other';
    const limit = Math.min(buf.length, MAX_HEAD_BYTES + 4);
    let end = -1;
    let i = Math.max(this.scanned, 5);
    for (; i < limit; i++) {
      const c = buf[i]!;
      const prev = buf[i - 1];
      // Line ends are CRLF, nothing else; other bytes are visible ASCII, space or tab.
      if (prev === CR && c !== LF) return 'other';
      if (c === LF && prev !== CR) return 'other';
      if (c !== CR && c !== LF && (c < 0x20 || c > 0x7e) && c !== TAB) return 'other';
      if (this.lineStart === 0) {
        // The request line: `POST ` (checked above), an origin-form target, ` HTTP/1.1` CRLF.
        if (this.versionAt === 0) {
          if (i === 5 ? c !== 0x2f : c === CR || c === TAB) return 'other';
          if (c === 0x20) this.versionAt = i + 1;
          continue;
        }
        const k = i - this.versionAt;
        if (c !== VERSION_CRLF[k]) return 'other';
        if (c === LF) {
          if (methodOfLine(buf.toString('latin1', 0, i - 1), methodOf) === undefined) return 'other';
          this.lineStart = i + 1;
        }
        continue;
      }
      if (c === LF) {
        if (this.lineStart === i - 1) {
          end = i - 3;
          break;
        }
        if (!this.headerLineOk(buf, i - 1)) return 'other';
        this.lineStart = i + 1;
        this.colonAt = 0;
        this.inLength = false;
      } else if (this.colonAt === 0) {
        // A header name: token characters up to the colon (a line without one, or starting
        // with whitespace as a folded line does, is node:http's to reject).
        if (c === 0x3a) {
          if (i === this.lineStart) return 'other';
          this.colonAt = i;
          this.inLength = i - this.lineStart === 14 && buf.toString('latin1', this.lineStart, i).toLowerCase() === 'content-length';
        } else if (c === CR) {
          if (i !== this.lineStart) return 'other';
        } else if (TOKEN_CHAR[c] !== 1) return 'other';
      } else if (this.inLength && c !== CR && c !== 0x20 && c !== TAB && (c < 0x30 || c > 0x39)) {
        // node:http rejects a Content-Length with anything but digits at the first such byte.
        return 'other';
      }
    }
    if (end < 0) {
      this.scanned = i;
      return buf.length > MAX_HEAD_BYTES + 3 ? 'other' : 'more';
    }
    if (end > MAX_HEAD_BYTES) return 'other';
    const text = buf.toString('latin1', 0, end);
    const lines = text.split('\r\n');
    const m = REQUEST_LINE.exec(lines[0]!);
    if (m === null) return 'other';
    const target = m[1]!;
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const method = methodOf(path);
    if (method === undefined) return 'other';
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) return 'other';
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) return 'other';
      const value = line.slice(colon + 1).trim();
      if (!FIELD_VALUE.test(value)) return 'other';
      const key = name.toLowerCase();
      // Repeated headers, framing and protocol switches are node:http's business.
      if (headers.has(key) || key === 'transfer-encoding' || key === 'expect' || key === 'upgrade') return 'other';
      headers.set(key, value);
    }
    // node:http answers an HTTP/1.1 request without Host with 400; so does this path, through it.
    if (!headers.has('host')) return 'other';
    const cl = headers.get('content-length');
    if (cl === undefined || !DIGITS.test(cl)) return 'other';
    const contentLength = Number(cl);
    const connection = headers.get('connection')?.toLowerCase();
    if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') return 'other';
    return { method, query: q < 0 ? '' : target.slice(q + 1), headers, headEnd: end + 4, contentLength, close: connection === 'close' };
  }

  /**
   * Checks a complete header line (ending before `lineEnd`) as soon as it is in: framing,
   * protocol switches and a repeated or malformed Content-Length are node:http's business,
   * and it may reject them before the head is complete.
   */
  private headerLineOk(buf: Buffer, lineEnd: number): boolean {
    const nameLength = this.colonAt - this.lineStart;
    if (nameLength !== 6 && nameLength !== 7 && nameLength !== 14 && nameLength !== 17) return true;
    const name = buf.toString('latin1', this.lineStart, this.colonAt).toLowerCase();
    if (name === 'transfer-encoding' || name === 'expect' || name === 'upgrade') return false;
    if (name !== 'content-length') return true;
    if (this.sawLength || !DIGITS.test(buf.toString('latin1', this.colonAt + 1, lineEnd).trim())) return false;
    this.sawLength = true;
    return true;
  }
}

/** The API method a request line names, or undefined when the line is not one served here. */
function methodOfLine(line: string, methodOf: (path: string) => string | undefined): string | undefined {
  const m = REQUEST_LINE.exec(line);
  if (m === null) return undefined;
  const target = m[1]!;
  const q = target.indexOf('?');
  return methodOf(q < 0 ? target : target.slice(0, q));
}

const POST = Buffer.from('POST ');
/** `POST <origin-form target> HTTP/1.1`; HTTP/1.0 and absolute-form targets go to node:http. */
const REQUEST_LINE = /^POST (\/[\x21-\x7e]*) HTTP\/1\.1$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab; anything else (obs-text, controls) goes to node:http. */
const FIELD_VALUE = /^[\x20-\x7e\t]*$/;
const DIGITS = /^\d{1,15}$/;
/** The end of a request line after its target, byte by byte. */
const VERSION_CRLF = Buffer.from('HTTP/1.1\r\n', 'latin1');
/** 1 for the bytes of a token (header names). */
const TOKEN_CHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHAR[ch.charCodeAt(0)] = 1;
