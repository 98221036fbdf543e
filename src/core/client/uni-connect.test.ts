import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Disconnect, Disconnects, Errors } from '../../protocol/codes.js';
import { uniConnectDisconnect } from './uni-connect.js';

test('connect errors map to unidirectional disconnects by the reference table', () => {
  assert.equal(uniConnectDisconnect(Errors.tokenExpired), Disconnects.expired);
  assert.equal(uniConnectDisconnect(Errors.expired), Disconnects.expired);
  assert.equal(uniConnectDisconnect(Errors.tooManyRequests), Disconnects.tooManyRequests);
  assert.equal(uniConnectDisconnect(Errors.permissionDenied), Disconnects.permissionDenied);
  assert.equal(uniConnectDisconnect(Errors.unknownChannel), Disconnects.serverError);
  assert.equal(uniConnectDisconnect(Errors.internal), Disconnects.serverError);
});

test('configured transforms come first; disconnects pass through untouched', () => {
  const transforms = [{ code: 109, to: { code: 4109, reason: 'refresh your token' } }];
  const d = uniConnectDisconnect(Errors.tokenExpired, transforms);
  assert.ok(d instanceof Disconnect);
  assert.deepEqual([d.code, d.reason], [4109, 'refresh your token']);
  assert.equal(uniConnectDisconnect(Errors.expired, transforms), Disconnects.expired);
  assert.equal(uniConnectDisconnect(Disconnects.invalidToken, [{ code: 3500, to: { code: 1, reason: 'x' } }]), Disconnects.invalidToken);
});
