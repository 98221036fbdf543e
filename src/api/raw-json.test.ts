import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compactJson, encodeJson, RawJson, rawJsonFromBytes, isValidJson, isValidJsonObject } from './raw-json.js';
import { parseJsonStream, JsonStreamError } from './json-stream.js';
import { compileChannelGlob } from './glob.js';
import { apiErrorHttpStatus, toApiError, ApiErrors } from './errors.js';
import { ProtocolError, Errors } from '../protocol/index.js';

describe('raw JSON', () => {
  it('compacts whitespace outside strings only', () => {
    assert.equal(compactJson('{ "a b" : [ 1 ,\n 2 ] ,\t"c":"x \\" y" }'), '{"a b":[1,2],"c":"x \\" y"}');
    assert.equal(compactJson('"\\\\" '), '"\\\\"');
    assert.equal(compactJson('1'), '1');
  });

  it('keeps numbers exactly as written', () => {
    assert.equal(rawJsonFromBytes(Buffer.from(' 12345678901234567890 '))?.json, '12345678901234567890');
    assert.equal(rawJsonFromBytes(Buffer.from('{"f": 1.0e3}'))?.json, '{"f":1.0e3}');
  });

  it('refuses empty, invalid UTF-8 and non-JSON bytes', () => {
    assert.equal(rawJsonFromBytes(new Uint8Array(0)), undefined);
    assert.equal(rawJsonFromBytes(new Uint8Array([0x22, 0xff, 0x22])), undefined);
    assert.equal(rawJsonFromBytes(Buffer.from('{nope')), undefined);
    assert.equal(isValidJson(Buffer.from('[]')), true);
    assert.equal(isValidJson(new Uint8Array(0)), false);
    assert.equal(isValidJsonObject(Buffer.from(' {} ')), true);
    assert.equal(isValidJsonObject(Buffer.from('null')), false);
    assert.equal(isValidJsonObject(Buffer.from('[{}]')), false);
  });

  it('encodes results with raw values embedded', () => {
    const v = { a: new RawJson('{"x":1}'), b: [new RawJson('2'), undefined, 'three'], c: undefined, d: null, e: { f: true } };
    assert.equal(encodeJson(v), '{"a":{"x":1},"b":[2,null,"three"],"d":null,"e":{"f":true}}');
    assert.equal(encodeJson('line\nbreak'), '"line\\nbreak"');
    assert.equal(encodeJson({}), '{}');
  });
});

describe('JSON stream', () => {
  it('splits values on any whitespace or none', () => {
    assert.deepEqual(parseJsonStream('{"a":"}{"}\n{"b":[1,{"c":2}]}{}  1 "s"[]null'), [{ a: '}{' }, { b: [1, { c: 2 }] }, {}, 1, 's', [], null]);
    assert.deepEqual(parseJsonStream(' \r\n\t'), []);
  });

  it('fails on broken values', () => {
    for (const text of ['{', '{"a":}', '"abc', '}', 'nul', '{"a":1}x']) {
      assert.throws(() => parseJsonStream(text), JsonStreamError, text);
    }
  });
});

describe('channel glob', () => {
  it('matches like a separator-free glob', () => {
    const m = (p: string, s: string) => compileChannelGlob(p)(s);
    assert.equal(m('*', 'a:b/c.d'), true);
    assert.equal(m('news:*', 'news:'), true);
    assert.equal(m('news:*', 'chat:news'), false);
    assert.equal(m('a?c', 'a/c'), true);
    assert.equal(m('a?c', 'a:c'), true);
    assert.equal(m('[!x]y', 'xy'), false);
    assert.equal(m('[!x]y', '/y'), true);
    assert.equal(m('{a,b/c}:*', 'b/c:1'), true);
    assert.equal(m('a\\*', 'a*'), true);
    assert.equal(m('a\\*', 'ab'), false);
    assert.equal(m('!a', '!a'), true);
    assert.equal(m('.x*', '.xy'), true);
  });
});

describe('API errors', () => {
  it('maps node errors to the API table', () => {
    assert.deepEqual(toApiError(new ProtocolError(102, 'x')), { error: ApiErrors.unknownChannel, internal: false });
    assert.deepEqual(toApiError(Errors.unrecoverablePosition).error.toBody(), { code: 112, message: 'unrecoverable position' });
    assert.deepEqual(toApiError(Errors.concurrentPagination), { error: ApiErrors.internal, internal: true });
    assert.deepEqual(toApiError(new Error('x')), { error: ApiErrors.internal, internal: true });
    assert.deepEqual(toApiError(ApiErrors.notFound), { error: ApiErrors.notFound, internal: false });
    // A port refusing the request itself (a broker refusing non-JSON data) is a bad request, not a retryable failure.
    assert.deepEqual(toApiError(Object.assign(new Error('not JSON'), { rejectsInput: true })), { error: ApiErrors.badRequest, internal: false });
    assert.deepEqual(toApiError(Object.assign(new Error('down'), { rejectsInput: false })), { error: ApiErrors.internal, internal: true });
  });

  it('has the transport-mode status table', () => {
    assert.deepEqual(
      [100, 102, 104, 107, 108, 112, 113, 999].map(apiErrorHttpStatus),
      [500, 404, 404, 400, 400, 416, 409, 500],
    );
  });
});
