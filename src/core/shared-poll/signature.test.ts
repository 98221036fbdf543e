import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import { ProtocolError } from '../../protocol/codes.js';
import { signTrack, TrackSignatureVerifier, trackKeysHash } from './signature.js';

const SECRET = 'test-poll-secret';
const NOW = 1_767_226_000;

function code(v: unknown): number | undefined {
  return v instanceof ProtocolError ? v.code : undefined;
}

test('the signature is iat:exp:hex of an HMAC-SHA256 over NUL-separated iat, exp, user, channel and the keys hash', () => {
  // Built here step by step from the format's description (subscriptions.md §6.5).
  const keysHash = createHash('sha256').update('k1\x00k2').digest('hex');
  const message = `1767225600\x001767229200\x00\x00poll:test_1\x00${keysHash}`;
  const hex = createHmac('sha256', SECRET).update(message).digest('hex');
  assert.equal(trackKeysHash(['k1', 'k2']), keysHash);
  assert.equal(signTrack(SECRET, { iat: 1767225600, exp: 1767229200, user: '', channel: 'poll:test_1', keys: ['k1', 'k2'] }), `1767225600:1767229200:${hex}`);
  const v = new TrackSignatureVerifier({ secret: SECRET });
  assert.deepEqual(v.verify('poll:test_1', '', ['k1', 'k2'], `1767225600:1767229200:${hex}`, NOW), { iat: 1767225600, exp: 1767229200 });
});

test('forged, malformed or mismatched signatures are refused with 103', () => {
  const v = new TrackSignatureVerifier({ secret: SECRET });
  const sig = signTrack(SECRET, { iat: NOW, exp: NOW + 3600, user: 'u1', channel: 'poll:a', keys: ['k1', 'k2'] });
  assert.deepEqual(v.verify('poll:a', 'u1', ['k1', 'k2'], sig, NOW), { iat: NOW, exp: NOW + 3600 });
  assert.equal(code(v.verify('poll:a', 'u1', ['k1', 'k2'], 'invalid-signature', NOW)), 103, 'no separators');
  assert.equal(code(v.verify('poll:a', 'u1', ['k2', 'k1'], sig, NOW)), 103, 'keys in another order');
  assert.equal(code(v.verify('poll:a', 'u2', ['k1', 'k2'], sig, NOW)), 103, 'another user');
  assert.equal(code(v.verify('poll:b', 'u1', ['k1', 'k2'], sig, NOW)), 103, 'another channel');
  assert.equal(code(v.verify('poll:a', 'u1', ['k1', 'k2', 'k3'], sig, NOW)), 103, 'more keys');
  const forged = signTrack('other-secret', { iat: NOW, exp: NOW + 3600, user: 'u1', channel: 'poll:a', keys: ['k1', 'k2'] });
  assert.equal(code(v.verify('poll:a', 'u1', ['k1', 'k2'], forged, NOW)), 103, 'another secret');
  const [iat, , hex] = sig.split(':');
  assert.equal(code(v.verify('poll:a', 'u1', ['k1', 'k2'], `${iat}:${NOW + 7200}:${hex}`, NOW)), 103, 'a changed expiry breaks the HMAC');
  assert.equal(code(v.verify('poll:a', 'u1', ['k1', 'k2'], `${iat}:${NOW + 3600}:${hex!.toUpperCase()}`, NOW)), 103, 'hex is lowercase');
  assert.equal(code(new TrackSignatureVerifier({ secret: '' }).verify('poll:a', 'u1', ['k1', 'k2'], sig, NOW)), 103, 'no secret, no access');
});

test('an expired signature is refused with 109 after a 5-second grace; exp 0 never expires', () => {
  const v = new TrackSignatureVerifier({ secret: SECRET });
  const sign = (exp: number): string => signTrack(SECRET, { iat: NOW - 100, exp, user: '', channel: 'poll:a', keys: ['k'] });
  assert.equal(code(v.verify('poll:a', '', ['k'], sign(NOW - 60), NOW)), 109);
  assert.equal(code(v.verify('poll:a', '', ['k'], sign(NOW - 6), NOW)), 109);
  assert.ok(!(v.verify('poll:a', '', ['k'], sign(NOW - 5), NOW) instanceof Error), 'exp + 5 = now is still accepted');
  assert.ok(!(v.verify('poll:a', '', ['k'], sign(0), NOW) instanceof Error), 'exp 0 = never');
  // A forged expired signature is a forgery first.
  const forged = signTrack('x', { iat: NOW - 100, exp: NOW - 60, user: '', channel: 'poll:a', keys: ['k'] });
  assert.equal(code(v.verify('poll:a', '', ['k'], forged, NOW)), 103);
});

test('the previous key verifies signatures issued up to its valid_until, not after', () => {
  const validUntil = NOW - 1000;
  const v = new TrackSignatureVerifier({ secret: 'new-key', previousSecret: 'old-key', previousValidUntil: validUntil });
  const old = (iat: number): string => signTrack('old-key', { iat, exp: NOW + 3600, user: '', channel: 'poll:a', keys: ['k'] });
  assert.ok(!(v.verify('poll:a', '', ['k'], old(validUntil), NOW) instanceof Error), 'issued at valid_until');
  assert.ok(!(v.verify('poll:a', '', ['k'], old(validUntil - 500), NOW) instanceof Error), 'issued before');
  assert.equal(code(v.verify('poll:a', '', ['k'], old(validUntil + 1), NOW)), 103, 'issued after');
  // The current key is not bound by the previous key's deadline.
  const current = signTrack('new-key', { iat: validUntil + 1, exp: NOW + 3600, user: '', channel: 'poll:a', keys: ['k'] });
  assert.ok(!(v.verify('poll:a', '', ['k'], current, NOW) instanceof Error));
  // Without a deadline the previous key keeps working; without a previous key it never does.
  const open = new TrackSignatureVerifier({ secret: 'new-key', previousSecret: 'old-key' });
  assert.ok(!(open.verify('poll:a', '', ['k'], old(NOW), NOW) instanceof Error));
  assert.equal(code(new TrackSignatureVerifier({ secret: 'new-key' }).verify('poll:a', '', ['k'], old(validUntil), NOW)), 103);
});
