import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiExecutor } from '../api/index.js';
import { FakeNode } from '../api/fake-node.test-helper.js';
import { LogLimiter, type Logger } from '../core/index.js';
import { PUBLICATION_DATA_HEADERS, retryDelayMs } from './consumer.js';
import { Dispatcher, parseBool } from './dispatcher.js';

const lines: string[] = [];
const logger: Logger = {
  debug: () => {},
  info: (_f: object, m: string) => lines.push(`info ${m}`),
  warn: (_f: object, m: string) => lines.push(`warn ${m}`),
  error: (_f: object, m: string) => lines.push(`error ${m}`),
} as unknown as Logger;

function setup(dataMode = false): { node: FakeNode; d: Dispatcher } {
  const node = new FakeNode();
  const executor = new ApiExecutor(node, { logger, protocol: 'consuming' });
  const d = new Dispatcher(
    executor,
    { name: 'test', methodHeader: 'centrifugo-method', publicationDataMode: { enabled: dataMode, ...PUBLICATION_DATA_HEADERS } },
    new LogLimiter(logger, { intervalMs: 0 }),
  );
  return { node, d };
}

const json = (v: unknown): Uint8Array => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('Dispatcher: command mode', () => {
  it('runs the method named by the method attribute (case-insensitive name) with the body as request', async () => {
    const { node, d } = setup();
    const out = await d.dispatch(json({ channel: 'news', data: { x: 1 } }), { 'Centrifugo-Method': 'publish' });
    assert.deepEqual(out, { kind: 'ok' });
    assert.equal(node.calls[0]?.method, 'publish');
    assert.equal((node.calls[0]?.arg as { channel: string }).channel, 'news');
  });

  it('reads a {"method","payload"} envelope when there is no method attribute, payload as object or JSON string', async () => {
    const { node, d } = setup();
    assert.deepEqual(await d.dispatch(json({ method: 'publish', payload: { channel: 'a', data: 1 } }), {}), { kind: 'ok' });
    assert.deepEqual(await d.dispatch(json({ method: 'publish', payload: JSON.stringify({ channel: 'b', data: 2 }) }), { 'centrifugo-method': '' }), { kind: 'ok' });
    assert.deepEqual(
      node.calls.map((c) => (c.arg as { channel: string }).channel),
      ['a', 'b'],
    );
  });

  it('drops what it cannot run: no method anywhere, body or envelope payload not JSON, bad request', async () => {
    const { node, d } = setup();
    assert.equal((await d.dispatch(json({ channel: 'a', data: 1 }), {})).kind, 'drop');
    assert.equal((await d.dispatch(json('{nope'), { 'centrifugo-method': 'publish' })).kind, 'drop');
    assert.equal((await d.dispatch(json({ method: 'publish', payload: '{nope' }), {})).kind, 'drop');
    assert.equal((await d.dispatch(json({ channel: '', data: 1 }), { 'centrifugo-method': 'publish' })).kind, 'drop');
    assert.equal(node.calls.length, 0);
    assert.equal(d.stats.processed, 4);
    assert.equal(d.stats.errors, 4);
    assert.match(d.stats.lastError ?? '', /publish: API error 107/);
  });

  it('skips (acknowledges without running) methods consumers do not run', async () => {
    const { node, d } = setup();
    for (const method of ['presence', 'info', 'channels', 'no_such_method']) {
      assert.deepEqual(await d.dispatch(json({ channel: 'a' }), { 'centrifugo-method': method }), { kind: 'ok' }, method);
    }
    assert.deepEqual(await d.dispatch(json({ method: 'history', payload: { channel: 'a' } }), {}), { kind: 'ok' });
    assert.equal(node.calls.length, 0);
    assert.equal(d.stats.errors, 0);
    assert.ok(lines.some((l) => l === 'info consumer skipped a message'));
  });

  it('runs every accepted method', async () => {
    const { node, d } = setup();
    const reqs: Record<string, object> = {
      publish: { channel: 'a', data: 1 },
      broadcast: { channels: ['a', 'b'], data: 1 },
      subscribe: { user: 'u', channel: 'a' },
      unsubscribe: { user: 'u', channel: 'a' },
      disconnect: { user: 'u' },
      history_remove: { channel: 'a' },
      refresh: { user: 'u' },
    };
    for (const [method, req] of Object.entries(reqs)) assert.deepEqual(await d.dispatch(json(req), { 'centrifugo-method': method }), { kind: 'ok' }, method);
    assert.deepEqual(
      [...new Set(node.calls.map((c) => c.method))],
      ['publish', 'subscribe', 'unsubscribe', 'disconnect', 'historyRemove', 'refresh'],
    );
  });

  it('retries internal errors only, including one channel of a broadcast', async () => {
    const { node, d } = setup();
    node.throwOn.publish = new Error('broker down');
    const out = await d.dispatch(json({ channel: 'a', data: 1 }), { 'centrifugo-method': 'publish' });
    assert.equal(out.kind, 'retry');
    const b = await d.dispatch(json({ channels: ['a', 'b'], data: 1 }), { 'centrifugo-method': 'broadcast' });
    assert.equal(b.kind, 'retry');
    assert.equal(d.stats.processed, 0);
    assert.equal(d.stats.errors, 2);
  });
});

describe('Dispatcher: publication data mode', () => {
  it('publishes the body to one channel, broadcasts to several, with tags, idempotency key, delta and version', async () => {
    const { node, d } = setup(true);
    const body = json({ price: 1 });
    const headers = {
      'centrifugo-channels': 'a',
      'centrifugo-idempotency-key': 'k1',
      'centrifugo-delta': 'true',
      'centrifugo-version': '42',
      'centrifugo-version-epoch': 'e1',
      'Centrifugo-Tag-Region': 'eu',
    };
    assert.deepEqual(await d.dispatch(body, headers), { kind: 'ok' });
    const req = node.calls[0]?.arg as Record<string, unknown>;
    assert.equal(req.channel, 'a');
    assert.deepEqual(req.tags, { region: 'eu' });
    assert.equal(req.idempotencyKey, 'k1');
    assert.equal(req.delta, true);
    assert.equal(req.version, 42);
    assert.equal(req.versionEpoch, 'e1');
    assert.deepEqual(await d.dispatch(body, { 'centrifugo-channels': ' a, b ,' }), { kind: 'ok' });
    assert.deepEqual(
      node.calls.slice(1).map((c) => (c.arg as { channel: string }).channel),
      ['a', 'b'],
    );
  });

  it('drops a message with no channels or an unreadable delta or version header', async () => {
    const { node, d } = setup(true);
    const cases: Record<string, string>[] = [{}, { 'centrifugo-channels': ' , ' }, { 'centrifugo-channels': 'a', 'centrifugo-delta': 'yes' }, { 'centrifugo-channels': 'a', 'centrifugo-version': '-1' }];
    for (const h of cases) {
      assert.equal((await d.dispatch(json(1), h)).kind, 'drop', JSON.stringify(h));
    }
    assert.equal(node.calls.length, 0);
  });
});

describe('consumer helpers', () => {
  it('parseBool reads the boolean spellings Go accepts and nothing else', () => {
    for (const t of ['1', 't', 'T', 'true', 'TRUE', 'True']) assert.equal(parseBool(t), true);
    for (const f of ['0', 'f', 'F', 'false', 'FALSE', 'False']) assert.equal(parseBool(f), false);
    for (const x of ['', 'yes', 'tRUE', '2']) assert.equal(parseBool(x), undefined);
  });

  it('retryDelayMs starts at 10-20 ms, doubles and stops at 5 s', () => {
    assert.equal(retryDelayMs(1, () => 0), 10);
    assert.equal(retryDelayMs(1, () => 0.999), 20);
    assert.equal(retryDelayMs(2, () => 0), 20);
    assert.equal(retryDelayMs(4, () => 0), 80);
    assert.equal(retryDelayMs(30, () => 0.5), 5000);
  });
});

describe('Dispatcher: fuzz', () => {
  it('answers every random message with an outcome, never throws, and only runs the accepted methods', async () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['{', '}', '"method"', '"payload"', ':', ',', '"publish"', '"presence"', '"channel"', '"a"', '"{\\"channel\\":\\"x\\",\\"data\\":1}"', '[', ']', 'null', '1', '"', '\\', '\u0000', 'é'];
    const methods = ['', 'publish', 'broadcast', 'presence', 'info', 'PUBLISH', '__proto__', 'constructor'];
    for (const dataMode of [false, true]) {
      const { node, d } = setup(dataMode);
      for (let i = 0; i < 2000; i++) {
        const body = rand(4) === 0 ? Buffer.from(Array.from({ length: rand(40) }, () => rand(256))) : Buffer.from(Array.from({ length: rand(12) }, () => pieces[rand(pieces.length)]).join(''));
        const headers: Record<string, string> = {};
        if (rand(2)) headers['centrifugo-method'] = methods[rand(methods.length)]!;
        if (rand(2)) headers['centrifugo-channels'] = ['', 'a', 'a,b', ' , ', '\u0000'][rand(5)]!;
        if (rand(3) === 0) headers['centrifugo-delta'] = ['true', 'x', ''][rand(3)]!;
        if (rand(3) === 0) headers['centrifugo-version'] = ['1', '-1', '99999999999999999999', 'abc'][rand(4)]!;
        if (rand(3) === 0) headers['centrifugo-tag-' + ['k', '', '__proto__'][rand(3)]] = 'v';
        const out = await d.dispatch(body, headers);
        assert.ok(out.kind === 'ok' || out.kind === 'drop' || out.kind === 'retry', JSON.stringify(out));
        assert.notEqual(out.kind, 'retry', 'a FakeNode that never fails gives no internal errors');
      }
      const allowed = new Set(['publish', 'subscribe', 'unsubscribe', 'disconnect', 'historyRemove', 'refresh']);
      assert.ok(node.calls.every((c) => allowed.has(c.method)), [...new Set(node.calls.map((c) => c.method))].join(','));
    }
  });
});
