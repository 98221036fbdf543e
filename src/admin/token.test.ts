import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN_TOKEN_MAX_AGE_MS, issueAdminToken, tokenFromAuthorization, verifyAdminToken } from './token.js';

describe('admin tokens', () => {
  const now = 1_750_000_000_000;

  it('verify with the same secret within the max age only', () => {
    const t = issueAdminToken('s3cret', now);
    assert.ok(verifyAdminToken('s3cret', t, now));
    assert.ok(verifyAdminToken('s3cret', t, now + ADMIN_TOKEN_MAX_AGE_MS));
    assert.ok(!verifyAdminToken('s3cret', t, now + ADMIN_TOKEN_MAX_AGE_MS + 1));
    assert.ok(!verifyAdminToken('other', t, now));
    assert.ok(!verifyAdminToken('', t, now));
    assert.ok(!verifyAdminToken('s3cret', issueAdminToken('s3cret', now + 3_600_000), now), 'issued in the future');
  });

  it('reject tampering', () => {
    const t = issueAdminToken('s3cret', now);
    const [issued, sig] = t.split('.') as [string, string];
    assert.ok(!verifyAdminToken('s3cret', `${(parseInt(issued, 36) + 1).toString(36)}.${sig}`, now + 10));
    assert.ok(!verifyAdminToken('s3cret', `${issued}.${sig.slice(1)}`, now));
    assert.ok(!verifyAdminToken('s3cret', `0${issued}.${sig}`, now), 'non-canonical timestamp');
    assert.ok(!verifyAdminToken('s3cret', 'garbage', now));
  });

  it('read `Authorization: token <t>` with a case-insensitive scheme', () => {
    assert.equal(tokenFromAuthorization('Token abc'), 'abc');
    assert.equal(tokenFromAuthorization('token  abc '), 'abc');
    assert.equal(tokenFromAuthorization('apikey abc'), undefined);
    assert.equal(tokenFromAuthorization('token a b'), undefined);
    assert.equal(tokenFromAuthorization(undefined), undefined);
  });
});
