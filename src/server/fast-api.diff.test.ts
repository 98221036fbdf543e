// Differential test of the API fast path against node:http (llhttp): the same bytes go to a
// server with the fast path in front of the node:http binding and to one with the binding
// alone; the status codes answered and whether the server closed the connection must agree,
// except for the differences listed in `intendedDifference`. The requests are API calls of
// many shapes, mutated at random (seeded PRNG, fixed case count).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { FakeNode, TEST_KEY } from '../api/fake-node.test-helper.js';
import { ApiExecutor } from '../api/executor.js';
import { ApiEndpoint, apiHandlerOf } from '../api/http-handler.js';
import { FastApiPath } from './fast-api.js';

const SEED = Number(process.env.GYRE_DIFF_SEED ?? 20261207);
const CASES = Number(process.env.GYRE_DIFF_CASES ?? 300);
/** Cases in flight at once (each opens one connection to each server). */
const PARALLEL = 24;
/** An exchange ends when the server closes, or when nothing arrived for this long. */
const QUIET_MS = 250;
/** The quiet time when a differing case is replayed alone (a loaded machine can be slow to answer). */
const RECHECK_QUIET_MS = 1000;
/** Small, so that bodies over the limit are cheap to send. */
const MAX_BODY = 2048;

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** mulberry32: a small seeded PRNG, enough to make the cases reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Target {
  server: Server;
  port: number;
  fast: FastApiPath | undefined;
}

async function startTarget(withFastPath: boolean): Promise<Target> {
  const exec = new ApiExecutor(new FakeNode());
  const endpoint = new ApiEndpoint(exec, { key: TEST_KEY, insecure: false, maxBodyBytes: MAX_BODY });
  const handler = apiHandlerOf(endpoint);
  const server = createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(418);
      res.end('not api');
    }
  });
  const fast = withFastPath ? new FastApiPath(server, endpoint, silent) : undefined;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, fast };
}

interface Outcome {
  statuses: string[];
  closed: boolean;
}

/** Sends the pieces (a short pause between them) and reads until the server closes or goes quiet. */
function exchange(port: number, pieces: Buffer[], quietMs = QUIET_MS): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (process.env.GYRE_DIFF_DUMP) console.log(port, JSON.stringify(text));
      resolve({ statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => m[1]!), closed });
    };
    const quiet = (): void => {
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    socket.on('data', (d) => {
      text += d.toString('latin1');
      quiet();
    });
    // Resets count as closes: what matters is that the server ended the connection.
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', async () => {
      for (const p of pieces) {
        if (socket.destroyed) break;
        socket.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
      quiet();
    });
  });
}

// ---- request generation ----

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

const bodies = [
  '{"channel":"c","data":{"n":1}}',
  '{"channel":"c","data":"x"}',
  '{}',
  'null',
  '{"channel":"c","data":',
  '[1,2]',
  '{"channel":"c","data":{"deep":' + '['.repeat(50) + ']'.repeat(50) + '}}',
  '{"commands":[{"publish":{"channel":"c","data":{}}}]}',
  '',
];

/** One well-formed request (or a pair, pipelined) of a shape drawn at random. */
function baseRequest(r: Rand): string {
  const method = pick(r, ['publish', 'publish', 'publish', 'info', 'batch', 'broadcast', 'nosuchmethod']);
  const path = pick(r, [`/api/${method}`, `/api/${method}`, `/api/${method}`, '/api', '/elsewhere', `/api/${method}?api_key=${TEST_KEY}`, `/api/${method}?x=1`]);
  const verb = r() < 0.92 ? 'POST' : pick(r, ['GET', 'PUT', 'post']);
  const body = pick(r, bodies);
  const lines = [`${verb} ${path} HTTP/1.1`, 'Host: t'];
  const auth = r();
  if (auth < 0.6) lines.push(`X-API-Key: ${TEST_KEY}`);
  else if (auth < 0.7) lines.push(`Authorization: apikey ${TEST_KEY}`);
  else if (auth < 0.8) lines.push('X-API-Key: wrong');
  if (r() < 0.5) lines.push('Content-Type: application/json');
  const framing = r();
  let payload = body;
  if (framing < 0.75) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  else if (framing < 0.85) {
    // Declared over the limit; the body sent is shorter (the server must not wait for it).
    lines.push(`Content-Length: ${MAX_BODY + 1 + int(r, 100_000)}`);
    payload = body + 'x'.repeat(int(r, 3000));
  } else if (framing < 0.95) {
    lines.push('Transfer-Encoding: chunked');
    const big = r() < 0.3 ? 'y'.repeat(MAX_BODY + 10) : body;
    payload = (big.length > 0 ? `${big.length.toString(16)}\r\n${big}\r\n` : '') + '0\r\n\r\n';
  }
  const conn = r();
  if (conn < 0.25) lines.push('Connection: close');
  else if (conn < 0.35) lines.push('Connection: keep-alive');
  if (r() < 0.1) lines.push(`X-Pad: ${'p'.repeat(int(r, 9000))}`);
  const one = lines.join('\r\n') + '\r\n\r\n' + payload;
  if (r() < 0.2) return one + baseRequest(r);
  return one;
}

const specialBytes = [0x20, 0x3a, 0x0d, 0x0a, 0x09, 0x00, 0x7f, 0x80, 0xff, 0x2c, 0x3b, 0x22, 0x7b, 0x30, 0x39, 0x2d, 0x2b];

/** Applies one random mutation to the request bytes. */
function mutate(r: Rand, s: Buffer): Buffer {
  const at = int(r, s.length + 1);
  const text = s.toString('latin1');
  switch (int(r, 12)) {
    case 0: {
      // Overwrite one byte.
      if (s.length === 0) return s;
      const out = Buffer.from(s);
      out[Math.min(at, s.length - 1)] = r() < 0.6 ? pick(r, specialBytes) : 0x21 + int(r, 94);
      return out;
    }
    case 1:
      // Insert a byte.
      return Buffer.concat([s.subarray(0, at), Buffer.from([pick(r, specialBytes)]), s.subarray(at)]);
    case 2:
      // Delete a short run.
      return Buffer.concat([s.subarray(0, at), s.subarray(at + 1 + int(r, 4))]);
    case 3: {
      // One CRLF (or all of them) becomes a bare LF.
      if (r() < 0.5) return Buffer.from(text.replaceAll('\r\n', '\n'), 'latin1');
      const i = text.indexOf('\r\n', at);
      return i < 0 ? s : Buffer.concat([s.subarray(0, i), s.subarray(i + 1)]);
    }
    case 4:
      // Truncate.
      return s.subarray(0, at);
    case 5: {
      // Rewrite the first Content-Length value.
      const v = pick(r, ['0', '1', '00002', '+2', '-1', ' 2 ', '2, 2', '99999999999999999999', '1e3', '0x10', String(MAX_BODY), String(MAX_BODY + 1), '']);
      return Buffer.from(text.replace(/Content-Length: [^\r\n]*/, `Content-Length: ${v}`), 'latin1');
    }
    case 6: {
      // Duplicate a header line.
      const lines = text.split('\r\n');
      const i = 1 + int(r, Math.max(1, lines.length - 1));
      if (i >= lines.length || lines[i] === '') return s;
      lines.splice(i, 0, lines[i]!);
      return Buffer.from(lines.join('\r\n'), 'latin1');
    }
    case 7: {
      // Add a header of an odd shape.
      const h = pick(r, [
        'Transfer-Encoding: chunked',
        'Transfer-Encoding: identity',
        'Expect: 100-continue',
        'Upgrade: websocket',
        'Connection: upgrade',
        'Connection: close, keep-alive',
        'X-Empty:',
        'X-Tab:\tv',
        ' X-Leading-Space: v',
        'X-Space : v',
        'X-Folded: a\r\n b',
        'X-Obs: caf\xe9',
        'Content-Length: 5',
        'Host: other',
        'X-Centrifugo-Error-Mode: transport',
        'x-api-key: ' + TEST_KEY,
        'Authorization: apikey wrong',
      ]);
      const i = text.indexOf('\r\n');
      if (i < 0) return s;
      return Buffer.from(text.slice(0, i + 2) + h + '\r\n' + text.slice(i + 2), 'latin1');
    }
    case 8:
      // Change the request line's version or target.
      return Buffer.from(
        text.replace(/ HTTP\/1\.1\r\n/, pick(r, [' HTTP/1.0\r\n', ' HTTP/1.2\r\n', ' HTTP/2.0\r\n', ' http/1.1\r\n', 'HTTP/1.1\r\n', '  HTTP/1.1\r\n', ' HTTP/1.1 \r\n', ' HTTP/1.1\r\r\n'])),
        'latin1',
      );
    case 9: {
      const i = text.indexOf(' ');
      const target = pick(r, ['http://t/api/publish', '/api/publish#f', '/api//publish', '/api/publish/', '/api/pub%6cish', '*', '/api/publish?a=b c', '/api/"publish', '/api/publish\\', '/api/{x}']);
      const j = text.indexOf(' ', i + 1);
      if (i < 0 || j < 0) return s;
      return Buffer.from(text.slice(0, i + 1) + target + text.slice(j), 'latin1');
    }
    case 10: {
      // Change a header name's case.
      const m = /\r\n([A-Za-z-]+):/.exec(text.slice(at));
      if (m === null) return s;
      const name = m[1]!;
      const cased = [...name].map((c) => (r() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join('');
      return Buffer.from(text.slice(0, at) + text.slice(at).replace(name + ':', cased + ':'), 'latin1');
    }
    default:
      // Leading empty lines before the request line.
      return Buffer.concat([Buffer.from(pick(r, ['\r\n', '\n', ' ']), 'latin1'), s]);
  }
}

/** Splits the bytes into up to three pieces at random points. */
function pieces(r: Rand, s: Buffer): Buffer[] {
  const cuts = [...new Set(Array.from({ length: int(r, 3) }, () => int(r, s.length)))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    out.push(s.subarray(from, c));
    from = c;
  }
  out.push(s.subarray(from));
  return out.filter((p) => p.length > 0);
}

const same = (a: Outcome, b: Outcome): boolean => a.closed === b.closed && a.statuses.join() === b.statuses.join();

/**
 * Where the first request of the input ends, when its head is complete and its body framed
 * by one Content-Length (or absent); undefined otherwise.
 */
function firstRequestEnd(input: Buffer): number | undefined {
  const headEnd = input.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = input.toString('latin1', 0, headEnd);
  if (/\r\ntransfer-encoding:[ \t]*chunked[ \t]*(?=\r\n|$)/i.test(head) && !/\r\n(content-length|transfer-encoding):/i.test(head.replace(/\r\ntransfer-encoding:[^\r]*/i, ''))) {
    // Chunks `<hex>\r\n<data>\r\n`, ending with `0\r\n\r\n` (no trailers).
    const text = input.toString('latin1');
    let at = headEnd + 4;
    for (;;) {
      const m = /^([0-9a-fA-F]{1,8})\r\n/.exec(text.slice(at, at + 10));
      if (m === null) return undefined;
      const size = parseInt(m[1]!, 16);
      at += m[0].length;
      if (size === 0) return text.startsWith('\r\n', at) ? at + 2 : undefined;
      if (!text.startsWith('\r\n', at + size)) return undefined;
      at += size + 2;
    }
  }
  if (/\r\ntransfer-encoding:/i.test(head)) return undefined;
  const lengths = [...head.matchAll(/\r\ncontent-length:[ \t]*(\d+)[ \t]*(?=\r\n|$)/gi)].map((m) => Number(m[1]));
  if (lengths.length > 1) return undefined;
  const end = headEnd + 4 + (lengths[0] ?? 0);
  return end <= input.length ? end : undefined;
}

interface Replays {
  /** Both servers, one piece. */
  both(bytes: Buffer): Promise<[Outcome, Outcome]>;
  /** A fresh fast-path server: the outcome and how many answers the fast path wrote itself. */
  fastAlone(split: Buffer[]): Promise<{ outcome: Outcome; served: number }>;
}

const isParseError = (x: string | undefined): boolean => x === '400' || x === '431';

/**
 * The differences between the fast path and node:http that are intended. Returns why the
 * outcomes may differ, or undefined when they must agree. Both come from an error late in
 * the bytes, after node:http's parser has read ahead; with both connections closed:
 *
 * 1. An error in bytes pipelined after a complete request. node:http's parser reads ahead
 *    while the API handler (async) answers the first request; when it then fails on the
 *    pipelined bytes it writes its 400 (or 431) in place of the answers still pending, or
 *    destroys the connection with answers queued, depending on how the bytes came in reads.
 *    The fast path answers every complete request before it, then hands the rest to
 *    node:http, which fails on it the same way. Holds only when the first request, sent
 *    alone, gets the same outcome from both, and is the first answer of the fast path.
 * 2. The fast path answered nothing on the connection (a fresh fast-path server replays the
 *    case): node:http answered everything on both sides, and the difference is only that the
 *    bytes the fast path had read reach node:http's parser in one piece, so which of its
 *    answers (its 400 for the failed parse, a 413 for a body over the limit, an answer still
 *    queued) is written before it gives up differs. Holds only when an error status is involved.
 */
async function intendedDifference(c: { input: Buffer; split: Buffer[] }, fast: Outcome, node: Outcome, replays: Replays): Promise<string | undefined> {
  if (!fast.closed || !node.closed) return undefined;
  const end = firstRequestEnd(c.input);
  if (end !== undefined && end < c.input.length) {
    const [fastFirst, nodeFirst] = await replays.both(c.input.subarray(0, end));
    const firstOk = (o: Outcome): boolean => o.statuses[0] === fastFirst.statuses[0] || o.statuses.length === 0 || isParseError(o.statuses[0]);
    if (same(fastFirst, nodeFirst) && fastFirst.statuses.length === 1 && fast.statuses[0] === fastFirst.statuses[0] && firstOk(node)) {
      return 'an error in bytes pipelined after a complete request';
    }
  }
  const errorInvolved = [...fast.statuses, ...node.statuses].some((x) => Number(x) >= 400);
  if (errorInvolved && (await replays.fastAlone(c.split)).served === 0) {
    return 'node:http on both sides: which answers it writes before giving up on a late error';
  }
  return undefined;
}

describe('API fast path against node:http', () => {
  let fastTarget: Target;
  let nodeTarget: Target;
  before(async () => {
    fastTarget = await startTarget(true);
    nodeTarget = await startTarget(false);
  });
  after(async () => {
    for (const t of [fastTarget, nodeTarget]) {
      t.fast?.closeAll();
      t.server.closeAllConnections();
      await new Promise<void>((resolve) => t.server.close(() => resolve()));
    }
  });

  const replayAlone = (split: Buffer[]): Promise<[Outcome, Outcome]> =>
    Promise.all([exchange(fastTarget.port, split, RECHECK_QUIET_MS), exchange(nodeTarget.port, split, RECHECK_QUIET_MS)]);
  const replays: Replays = {
    both: (bytes) => replayAlone([bytes]),
    async fastAlone(split) {
      const t = await startTarget(true);
      try {
        const outcome = await exchange(t.port, split, RECHECK_QUIET_MS);
        return { outcome, served: t.fast!.served };
      } finally {
        t.fast!.closeAll();
        t.server.closeAllConnections();
        await new Promise<void>((resolve) => t.server.close(() => resolve()));
      }
    },
  };

  it(`agrees on ${CASES} random and mutated requests (seed ${SEED})`, async () => {
    const r = prng(SEED);
    const cases: { input: Buffer; split: Buffer[] }[] = [];
    for (let i = 0; i < CASES; i++) {
      let input: Buffer = Buffer.from(baseRequest(r), 'latin1');
      const n = i % 3 === 0 ? 0 : 1 + int(r, 2);
      for (let k = 0; k < n; k++) input = mutate(r, input);
      cases.push({ input, split: pieces(r, input) });
    }
    const mismatches: string[] = [];
    const intended = new Map<string, number>();
    let agreedAnswers = 0;
    const differing: number[] = [];
    // GYRE_DIFF_ONLY=<case> replays one case (with GYRE_DIFF_DUMP=1 to print both answers).
    const only = process.env.GYRE_DIFF_ONLY === undefined ? undefined : Number(process.env.GYRE_DIFF_ONLY);
    for (let i = only ?? 0; i < (only === undefined ? cases.length : only + 1); i += PARALLEL) {
      const batch = cases.slice(i, only === undefined ? i + PARALLEL : i + 1);
      const results = await Promise.all(batch.map((c) => Promise.all([exchange(fastTarget.port, c.split), exchange(nodeTarget.port, c.split)])));
      results.forEach(([fast, node], k) => {
        if (!same(fast, node)) differing.push(i + k);
        else if (fast.statuses.length > 0) agreedAnswers++;
      });
    }
    // Differing cases are replayed (all at once) with a longer wait: under load an answer can
    // take longer than QUIET_MS. What still differs must be an intended difference.
    await Promise.all(
      differing.map(async (n) => {
        const c = cases[n]!;
        const [fast, node] = await replayAlone(c.split);
        if (same(fast, node)) {
          if (fast.statuses.length > 0) agreedAnswers++;
          return;
        }
        const why = await intendedDifference(c, fast, node, replays);
        if (why !== undefined) intended.set(why, (intended.get(why) ?? 0) + 1);
        else mismatches.push(`case ${n}: fast ${JSON.stringify(fast)} node:http ${JSON.stringify(node)}\n  ${JSON.stringify(c.input.toString('latin1').slice(0, 600))}`);
      }),
    );
    if (only !== undefined) console.log(JSON.stringify(cases[only]!.split.map((p) => p.toString('latin1'))));
    assert.deepEqual(mismatches, [], `${mismatches.length} unintended differences:\n${mismatches.slice(0, 15).join('\n')}`);
    // The comparison means something only if the fast path served a good share of the cases itself.
    const served = fastTarget.fast!.served;
    assert.ok(served >= CASES / 5, `the fast path answered ${served} requests of ${CASES} cases`);
    assert.ok(agreedAnswers >= CASES / 2, `${agreedAnswers} cases got answers`);
    console.log(`${cases.length} cases, ${differing.length} replayed, intended differences: ${JSON.stringify(Object.fromEntries(intended))}`);
  });
});
