import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scanJson } from './json-positions.js';
import { closestKey, editDistance, unknownKeyHint, v5KeyTarget } from './key-hints.js';

describe('unknown key hints', () => {
  it('counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('histroy_size', 'history_size'), 1);
    assert.equal(editDistance('abc', 'abc'), 0);
    assert.equal(editDistance('', 'ab'), 2);
    assert.equal(closestKey('presense', ['presence', 'history_size']), 'presence');
    assert.equal(closestKey('zzzzzzzz', ['presence']), undefined);
  });

  it('maps Centrifugo v5 flat keys to their v6 place', () => {
    assert.equal(v5KeyTarget('token_hmac_secret_key'), 'client.token.hmac_secret_key');
    assert.equal(v5KeyTarget('subscription_token_rsa_public_key'), 'client.subscription_token.rsa_public_key');
    assert.equal(v5KeyTarget('allowed_origins'), 'client.allowed_origins');
    assert.equal(v5KeyTarget('history_size'), 'channel.without_namespace.history_size');
    assert.equal(v5KeyTarget('redis_address'), 'engine.redis.address');
    assert.equal(v5KeyTarget('client_channel_limit'), 'client.channel_limit');
    assert.equal(v5KeyTarget('namespaces'), 'channel.namespaces');
    assert.equal(v5KeyTarget('client_no_such_thing'), undefined);
  });

  it('suggests siblings inside arrays and nested objects, or where the name exists', () => {
    assert.equal(unknownKeyHint('channel.namespaces[3].histroy_size'), 'did you mean "history_size"?');
    assert.equal(unknownKeyHint('client.token.hmac_secret'), 'did you mean "hmac_secret_key"?');
    assert.match(unknownKeyHint('http_server.hmac_secret_key') ?? '', /exists at .*"client\.token\.hmac_secret_key"/);
    assert.equal(unknownKeyHint('qqqqqqqqqqqq'), undefined);
  });
});

describe('JSON positions', () => {
  it('finds keys and array items by config path, and the first syntax error', () => {
    const text = '{\n  "Client": {"token": {"hmac_secret_key": "k"}},\n  "channel": {"namespaces": [\n    {"name": "a\\"b"}\n  ]}\n}';
    const scan = scanJson(text);
    assert.equal(scan.error, undefined);
    assert.deepEqual(scan.keys.get('client'), { line: 2, column: 3 });
    assert.deepEqual(scan.keys.get('client.token.hmac_secret_key'), { line: 2, column: 24 });
    assert.deepEqual(scan.keys.get('channel.namespaces[0]'), { line: 4, column: 5 });
    assert.deepEqual(scan.keys.get('channel.namespaces[0].name'), { line: 4, column: 6 });
    assert.deepEqual(scanJson('{"a": 1,\n "b": tru }').error, { line: 2, column: 7, message: 'unexpected character "t"' });
    assert.deepEqual(scanJson('{"a": [1 2]}').error, { line: 1, column: 10, message: "expected ',' or ']' after a value in an array" });
    assert.deepEqual(scanJson('{"a": 1} x').error?.line, 1);
    assert.equal(scanJson('{"a": "\\x"}').error?.message, 'invalid escape \\x');
  });
});
