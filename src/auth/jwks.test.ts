import assert from 'node:assert/strict';
import { randomBytes, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CompactSign } from 'jose';
import { compileGoRegex } from '../config/index.js';
import { TokenError } from '../core/ports.js';
import { JWKS_MAX_KID_LENGTH, JWKS_MIN_REFETCH_INTERVAL_MS, JWKS_UNKNOWN_KID_TTL_MS, JwksClient } from './jwks.js';
import { JwtVerifier } from './jwt-verifier.js';

const utf8 = new TextEncoder();

function sign(key: KeyObject, kid: string, sub = 'u'): Promise<string> {
  return new CompactSign(utf8.encode(JSON.stringify({ sub })))
    .setProtectedHeader({ alg: 'RS256', kid })
    .sign(key);
}

describe('JWKS: unknown key ids cannot drive fetches', () => {
  const first = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rotated = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, use: 'sig' });
  /** The set the endpoint serves; tests publish new keys by pushing to it. */
  const keys: object[] = [];
  let fetches = 0;
  let server: Server;
  let url = '';

  before(async () => {
    keys.push(jwk(first.publicKey, 'k1'));
    server = createServer((req, res) => {
      fetches++;
      // A little latency so concurrent misses overlap one fetch.
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys }));
      }, 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('100 tokens with random unknown kids cost a bounded number of fetches; a rotated key is picked up after the interval', async () => {
    const clock = { ms: 1_700_000_000_000 };
    const v = new JwtVerifier({ jwks_public_endpoint: url }, undefined, { now: () => clock.ms, compileRegex: compileGoRegex });
    const start = fetches;
    assert.equal((await v.verifyConnectToken(await sign(first.privateKey, 'k1', 'one'))).userId, 'one');
    assert.equal(fetches - start, 1);

    // 100 forged kids once the refetch window is open again: half of them concurrently, half
    // one after another with time moving a little.
    clock.ms += JWKS_MIN_REFETCH_INTERVAL_MS;
    const forged = await Promise.all(Array.from({ length: 100 }, () => sign(first.privateKey, randomBytes(8).toString('hex'))));
    const outcomes = await Promise.allSettled(forged.slice(0, 50).map((t) => v.verifyConnectToken(t)));
    for (const token of forged.slice(50)) {
      clock.ms += 10;
      outcomes.push(...(await Promise.allSettled([v.verifyConnectToken(token)])));
    }
    assert.ok(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof TokenError && o.reason.kind === 'invalid'));
    // One fetch for the first forged kid, which the other concurrent ones share; the rest are
    // refused inside the refetch window.
    assert.equal(fetches - start, 2, `fetches for 100 unknown kids: ${fetches - start - 1}`);
    const afterForged = fetches;

    // The issuer rotates: a new kid appears at the endpoint.
    keys.push(jwk(rotated.publicKey, 'k2'));
    const rotatedToken = await sign(rotated.privateKey, 'k2', 'two');
    clock.ms += JWKS_MIN_REFETCH_INTERVAL_MS;
    assert.equal((await v.verifyConnectToken(rotatedToken)).userId, 'two');
    assert.equal(fetches - afterForged, 1, 'one fetch picks up the rotated key');
    // Known kids stay served from the cache.
    assert.equal((await v.verifyConnectToken(await sign(first.privateKey, 'k1', 'again'))).userId, 'again');
    assert.equal(fetches - afterForged, 1);
  });

  it('remembers a kid the fetched set lacked, bounded, and forgets it after its TTL', async () => {
    const clock = { ms: 1_700_000_000_000 };
    const client = new JwksClient(url, { nowMs: () => clock.ms, maxTracked: 10 });
    const start = fetches;
    await assert.rejects(client.keyFor(url, 'ghost', 'RS256'), { code: 'jwks_key_not_found' });
    assert.equal(fetches - start, 1);
    // After the refetch interval the same unknown kid is still refused without a fetch...
    clock.ms += JWKS_MIN_REFETCH_INTERVAL_MS;
    await assert.rejects(client.keyFor(url, 'ghost', 'RS256'), { code: 'jwks_key_not_found' });
    assert.equal(fetches - start, 1);
    // ...while a kid never seen may fetch once the interval has passed.
    await assert.rejects(client.keyFor(url, 'other', 'RS256'), { code: 'jwks_key_not_found' });
    assert.equal(fetches - start, 2);
    // After its TTL the kid is looked up again.
    clock.ms += JWKS_UNKNOWN_KID_TTL_MS;
    await assert.rejects(client.keyFor(url, 'ghost', 'RS256'), { code: 'jwks_key_not_found' });
    assert.equal(fetches - start, 3);

    // The cache never holds more than maxTracked kids, however many are tried.
    for (let i = 0; i < 30; i++) {
      clock.ms += JWKS_MIN_REFETCH_INTERVAL_MS;
      await assert.rejects(client.keyFor(url, `kid-${i}`, 'RS256'), { code: 'jwks_key_not_found' });
    }
    assert.equal(client.unknownKidCount, 10);
    await assert.doesNotReject(client.keyFor(url, 'k1', 'RS256'));
  });

  it('refuses an over-long kid without a fetch and without caching it', async () => {
    const client = new JwksClient(url);
    const start = fetches;
    await assert.rejects(client.keyFor(url, 'k'.repeat(JWKS_MAX_KID_LENGTH + 1), 'RS256'), { code: 'jwks_key_not_found' });
    await assert.rejects(client.keyFor(url, 'x'.repeat(1 << 20), 'RS256'), { code: 'jwks_key_not_found' });
    assert.equal(fetches, start);
    assert.equal(client.unknownKidCount, 0);
  });
});
