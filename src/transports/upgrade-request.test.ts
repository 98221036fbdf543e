// sessionHeaders: handshake-only headers dropped, common header sets shared (frozen) between
// connections, anything else (a cookie) kept per connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionHeaders } from './upgrade-request.js';

const handshake = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };

test('connections with the same common headers share one frozen headers object', () => {
  const a = sessionHeaders({ ...handshake, host: 'example.test:8000', origin: 'https://example.test' });
  const b = sessionHeaders({ host: 'example.test:8000', ...handshake, origin: 'https://example.test' });
  assert.deepEqual(a, { host: 'example.test:8000', origin: 'https://example.test' });
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  const other = sessionHeaders({ ...handshake, host: 'example.test:8001' });
  assert.notEqual(other, a);
  assert.deepEqual(other, { host: 'example.test:8001' });
});

test('headers with a value of their own (a cookie) stay per connection', () => {
  const a = sessionHeaders({ ...handshake, host: 'example.test:8000', cookie: 'sid=1' });
  const b = sessionHeaders({ ...handshake, host: 'example.test:8000', cookie: 'sid=1' });
  assert.notEqual(a, b);
  assert.deepEqual(a, { host: 'example.test:8000', cookie: 'sid=1' });
  assert.ok(!Object.isFrozen(a));
});
