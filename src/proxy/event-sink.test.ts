import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it, type TestContext } from 'node:test';
import { LogLimiter } from '../core/index.js';
import { EventSink } from './event-sink.js';
import { HttpEventPoster } from './http-event-poster.js';

interface Req {
  at: number;
  events: { n: number }[];
}

/** How the backend answers the next requests (a queue; then 200 {"result":{}}). */
type Answer = 'ok' | 'error' | 500 | 'hang';

describe('EventSink against a real HTTP backend', () => {
  let server: http.Server;
  let url = '';
  const got: Req[] = [];
  const answers: Answer[] = [];
  const hanging: http.ServerResponse[] = [];
  const logs: string[] = [];
  const logger = {
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: (_o: object, m?: string) => void logs.push(m ?? ''),
    error: () => undefined,
  };

  before(async () => {
    server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        got.push({ at: Date.now(), events: JSON.parse(text).events });
        const a = answers.shift() ?? 'ok';
        if (a === 'hang') hanging.push(res);
        else if (a === 500) res.writeHead(500).end('no');
        else if (a === 'error') res.writeHead(200).end('{"error":{"code":1,"message":"busy"}}');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":{}}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    got.length = 0;
    answers.length = 0;
    logs.length = 0;
  });

  const make = (t: TestContext, opts: { maxBatch?: number; maxQueue?: number; lingerMs?: number } = {}) => {
    const poster = new HttpEventPoster({ endpoint: url, timeoutMs: 5000 });
    let droppedReported = 0;
    const sink = new EventSink<{ n: number }>({
      type: 'disconnect',
      name: 'default',
      send: (events) => poster.post(events),
      log: new LogLimiter(logger, { intervalMs: 60_000 }),
      onDrop: (n) => (droppedReported += n),
      ...opts,
    });
    // Closed even when the test fails, so no retry loop outlives it.
    t.after(async () => {
      for (const r of hanging.splice(0)) r.destroy();
      await sink.close(100);
      await poster.close();
    });
    return { sink, poster, dropped: () => droppedReported };
  };
  const delivered = (): number[] => got.flatMap((r) => r.events.map((e) => e.n));
  const waitUntil = async (cond: () => boolean, what: string): Promise<void> => {
    const end = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('sends events in order, in batches of at most maxBatch, each once', { timeout: 20_000 }, async (t) => {
    const { sink, poster } = make(t, { maxBatch: 500 });
    for (let n = 0; n < 1200; n++) assert.equal(sink.push({ n }), true);
    await waitUntil(() => delivered().length === 1200, '1200 events');
    assert.deepEqual(
      got.map((r) => r.events.length),
      [500, 500, 200],
    );
    assert.deepEqual(delivered(), Array.from({ length: 1200 }, (_, n) => n));
    await waitUntil(() => sink.delivered === 1200, 'the last answer');
    await sink.close();
    await poster.close();
  });

  it('retries a failed batch (500, then an error answer) with growing waits, then delivers it whole', { timeout: 20_000 }, async (t) => {
    answers.push(500, 500, 'error');
    const { sink, poster } = make(t);
    for (let n = 0; n < 5; n++) sink.push({ n });
    await waitUntil(() => got.length === 4, 'four tries');
    // Every try carried the same batch: no event lost, none repeated within a batch.
    for (const r of got) assert.deepEqual(r.events.map((e) => e.n), [0, 1, 2, 3, 4]);
    const gaps = got.slice(1).map((r, i) => r.at - got[i]!.at);
    assert.ok(gaps[0]! >= 95, `first retry after ${gaps[0]} ms`);
    assert.ok(gaps[1]! >= 195, `second retry after ${gaps[1]} ms`);
    assert.ok(gaps[2]! >= 395, `third retry after ${gaps[2]} ms`);
    assert.ok(logs.includes('proxy events not delivered, retrying'));
    // The log line is rate-limited: one warning for three failures.
    assert.equal(logs.filter((l) => l === 'proxy events not delivered, retrying').length, 1);
    sink.push({ n: 5 });
    await waitUntil(() => delivered().includes(5), 'the next event');
    assert.equal(got.length, 5);
    await sink.close();
    await poster.close();
  });

  it('bounds the queue: events past maxQueue are dropped and counted, the rest delivered', { timeout: 20_000 }, async (t) => {
    answers.push('hang');
    const { sink, poster, dropped } = make(t, { maxQueue: 10, lingerMs: 0 });
    sink.push({ n: 0 });
    await waitUntil(() => got.length === 1, 'the first request');
    let accepted = 0;
    for (let n = 1; n <= 15; n++) if (sink.push({ n })) accepted++;
    assert.equal(accepted, 10);
    assert.equal(sink.dropped, 5);
    assert.equal(dropped(), 5);
    assert.ok(logs.includes('proxy events dropped'));
    hanging.shift()!.writeHead(200).end('{"result":{}}');
    await waitUntil(() => delivered().length === 11, 'the queued events');
    assert.deepEqual(delivered(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await sink.close();
    await poster.close();
  });

  it('drains on close, and drops (counting) what a failing backend did not take within the drain time', { timeout: 20_000 }, async (t) => {
    const a = make(t, { lingerMs: 1000 });
    for (let n = 0; n < 3; n++) a.sink.push({ n });
    await a.sink.close(2000);
    assert.deepEqual(delivered(), [0, 1, 2], 'close sends what was queued without waiting for the linger');
    assert.equal(a.sink.push({ n: 99 }), false, 'a closed sink takes nothing');
    assert.equal(a.dropped(), 1);
    await a.poster.close();

    got.length = 0;
    for (let i = 0; i < 50; i++) answers.push(500);
    const b = make(t);
    for (let n = 0; n < 4; n++) b.sink.push({ n });
    await waitUntil(() => got.length >= 1, 'a first try');
    const started = Date.now();
    await b.sink.close(500);
    assert.ok(Date.now() - started < 3000, 'close waits a bounded time');
    assert.equal(b.dropped(), 4);
    assert.equal(b.sink.delivered, 0);
    answers.length = 0;
    await b.poster.close();
  });
});
