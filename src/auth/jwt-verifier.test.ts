import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign, decodeJwt, decodeProtectedHeader } from 'jose';
import { compileGoRegex } from '../config/index.js';
import { TokenError, type PatternMatcher } from '../core/ports.js';
import { JwksError, JwtVerifier, TokenConfigError, checkTokenConfig, signHmacToken, type TokenConfig } from './index.js';
import { MAX_REGEX_CLAIM_LENGTH } from './jwt-verifier.js';

/** The server's options: config regexes are Go patterns. */
const GO = { compileRegex: compileGoRegex };
const SECRET = 'current-secret';
const OLD_SECRET = 'previous-secret';
const NOW_S = 1_700_000_000;
const utf8 = new TextEncoder();

/** A verifier with a controllable clock (seconds). */
function verifier(conn: TokenConfig, sub?: TokenConfig, skip = false): { v: JwtVerifier; clock: { s: number } } {
  const clock = { s: NOW_S };
  const v = new JwtVerifier(conn, sub, { now: () => clock.s * 1000, skipSignatureVerify: skip, compileRegex: compileGoRegex });
  return { v, clock };
}

/** Signs arbitrary bytes as a compact JWS with any key jose accepts. */
async function sign(
  alg: string,
  key: KeyObject | Uint8Array,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new CompactSign(utf8.encode(JSON.stringify(claims))).setProtectedHeader({ ...header, alg }).sign(key);
}

function hs(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return signHmacToken(secret, claims);
}

async function rejectsWith(p: Promise<unknown>, kind: 'expired' | 'invalid'): Promise<TokenError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TokenError, `expected TokenError, got ${String(err)}`);
    assert.equal(err.kind, kind, `expected ${kind}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a TokenError(${kind}), but the promise resolved`);
}

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));
const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');

function unsignedToken(header: unknown, payload: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part(header)}.${part(payload)}.c2ln`;
}

describe('HMAC tokens', () => {
  it('accepts HS256/HS384/HS512 signed with the secret', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET });
    for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
      const token = await signHmacToken(SECRET, { sub: `u-${alg}`, exp: NOW_S + 60 }, alg);
      const creds = await v.verifyConnectToken(token);
      assert.equal(creds.userId, `u-${alg}`);
      assert.equal(creds.expireAt, NOW_S + 60);
    }
  });

  it('reports exp in the past and nbf in the future as expired', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET });
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', exp: NOW_S - 1 })), 'expired');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', exp: NOW_S })), 'expired');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', nbf: NOW_S + 10 })), 'expired');
    await rejectsWith(v.verifySubscribeToken(await hs({ sub: '1', channel: 'c', exp: NOW_S - 1 })), 'expired');
    const ok = await v.verifyConnectToken(await hs({ sub: '1', nbf: NOW_S - 10, exp: NOW_S + 1 }));
    assert.equal(ok.userId, '1');
  });

  it('refuses a bad signature, unknown and disabled algorithms, malformed tokens', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET });
    const err = await rejectsWith(v.verifyConnectToken(await hs({ sub: '1' }, 'other-secret')), 'invalid');
    assert.match(err.message, /signature/);
    const good = await hs({ sub: '1' });
    const [h, p] = good.split('.');
    await rejectsWith(v.verifyConnectToken(`${h}.${p}.AAAA`), 'invalid');
    await rejectsWith(v.verifyConnectToken(unsignedToken({ alg: 'none' }, { sub: '1' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(unsignedToken({ alg: 'PS256' }, { sub: '1' })), 'invalid');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs = await rejectsWith(v.verifyConnectToken(await sign('RS256', privateKey, { sub: '1' })), 'invalid');
    assert.match(rs.message, /disabled/);
    for (const bad of ['', 'abc', 'a.b.c', 'a.b', `${h}.${p}`, unsignedToken({ alg: 'HS256' }, [1, 2])]) {
      await rejectsWith(v.verifyConnectToken(bad), 'invalid');
    }
  });

  it('refuses registered claims of the wrong type', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET });
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 42 })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', exp: 'soon' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', aud: [1] })), 'invalid');
  });

  it('accepts the previous secret until valid_until, and indefinitely when it is 0', async () => {
    const old = await hs({ sub: 'rotated' }, OLD_SECRET);
    const { v, clock } = verifier({
      hmac_secret_key: SECRET,
      hmac_previous_secret_key: OLD_SECRET,
      hmac_previous_secret_key_valid_until: NOW_S + 100,
    });
    assert.equal((await v.verifyConnectToken(old)).userId, 'rotated');
    assert.equal((await v.verifyConnectToken(await hs({ sub: 'new' }))).userId, 'new');
    clock.s = NOW_S + 100;
    assert.equal((await v.verifyConnectToken(old)).userId, 'rotated');
    clock.s = NOW_S + 101;
    await rejectsWith(v.verifyConnectToken(old), 'invalid');
    assert.equal((await v.verifyConnectToken(await hs({ sub: 'new' }))).userId, 'new');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 'x' }, 'third-secret')), 'invalid');

    const forever = verifier({ hmac_secret_key: SECRET, hmac_previous_secret_key: OLD_SECRET });
    forever.clock.s = NOW_S + 10 * 365 * 86400;
    assert.equal((await forever.v.verifyConnectToken(old)).userId, 'rotated');
  });

  it('signHmacToken keeps the claims exactly and sets typ JWT', async () => {
    const claims = { sub: '7', info: { a: [1, 'b'] }, exp: NOW_S + 5 };
    const token = await signHmacToken(SECRET, claims, 'HS512');
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS512', typ: 'JWT' });
    assert.deepEqual(decodeJwt(token), claims);
    await assert.rejects(signHmacToken('', {}), /empty secret/);
  });
});

describe('RSA and ECDSA public keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p256Pem = p256.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const p384Pem = p384.publicKey.export({ type: 'spki', format: 'pem' }) as string;

  it('verifies RS256/RS384/RS512 with an SPKI PEM', async () => {
    const { v } = verifier({ rsa_public_key: rsaPem });
    await v.ready();
    for (const alg of ['RS256', 'RS384', 'RS512']) {
      assert.equal((await v.verifyConnectToken(await sign(alg, rsa.privateKey, { sub: alg }))).userId, alg);
    }
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await rejectsWith(v.verifyConnectToken(await sign('RS256', other.privateKey, { sub: '1' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1' })), 'invalid');
  });

  it('verifies ES256 and ES384 by curve, refusing an alg the curve does not fit', async () => {
    const a = verifier({ ecdsa_public_key: p256Pem });
    await a.v.ready();
    assert.equal((await a.v.verifyConnectToken(await sign('ES256', p256.privateKey, { sub: 'ec' }))).userId, 'ec');
    await rejectsWith(a.v.verifyConnectToken(await sign('ES384', p384.privateKey, { sub: 'ec' })), 'invalid');
    const b = verifier({ ecdsa_public_key: p384Pem });
    assert.equal((await b.v.verifyConnectToken(await sign('ES384', p384.privateKey, { sub: 'ec3' }))).userId, 'ec3');
    await rejectsWith(b.v.verifyConnectToken(await sign('ES256', p256.privateKey, { sub: 'ec' })), 'invalid');
  });

  it('uses each configured key for its own family', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET, rsa_public_key: rsaPem, ecdsa_public_key: p256Pem });
    assert.equal((await v.verifyConnectToken(await hs({ sub: 'h' }))).userId, 'h');
    assert.equal((await v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r' }))).userId, 'r');
    assert.equal((await v.verifyConnectToken(await sign('ES256', p256.privateKey, { sub: 'e' }))).userId, 'e');
    // An RSA key in the ECDSA slot serves no ES alg.
    const swapped = verifier({ ecdsa_public_key: rsaPem });
    await assert.rejects(swapped.v.ready(), TokenConfigError);
  });

  it('rejects unusable key config', async () => {
    assert.throws(() => new JwtVerifier({ rsa_public_key: 'not a pem' }, undefined, GO), TokenConfigError);
    await assert.rejects(checkTokenConfig({ rsa_public_key: p256Pem }, compileGoRegex), TokenConfigError);
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await assert.rejects(checkTokenConfig({ rsa_public_key: weak }, compileGoRegex), /2048/);
    await checkTokenConfig({ rsa_public_key: rsaPem, ecdsa_public_key: p384Pem }, compileGoRegex);
  });

  const hasOpenssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it('accepts X.509 certificates for RSA and ECDSA', { skip: !hasOpenssl && 'openssl not installed' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gyre-auth-'));
    try {
      const certFor = (name: string, keyArgs: string[]): { cert: string; key: string } => {
        const keyFile = join(dir, `${name}.key`);
        const certFile = join(dir, `${name}.crt`);
        execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', '/CN=gyre', '-days', '1'], {
          stdio: 'ignore',
        });
        return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
      };
      const r = certFor('rsa', ['-newkey', 'rsa:2048']);
      const e = certFor('ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const { v } = verifier({ rsa_public_key: r.cert, ecdsa_public_key: e.cert });
      await v.ready();
      assert.equal((await v.verifyConnectToken(await sign('RS256', createPrivateKey(r.key), { sub: 'rc' }))).userId, 'rc');
      assert.equal((await v.verifyConnectToken(await sign('ES256', createPrivateKey(e.key), { sub: 'ec' }))).userId, 'ec');
      await rejectsWith(v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'x' })), 'invalid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('JWKS', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const encKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pinned = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = (k: KeyObject, extra: Record<string, unknown>) => ({ ...k.export({ format: 'jwk' }), ...extra });
  const keySet = {
    keys: [
      jwk(rsa.publicKey, { kid: 'rsa1', use: 'sig' }),
      jwk(ec.publicKey, { kid: 'ec1', use: 'sig' }),
      jwk(ed.publicKey, { kid: 'ed1', use: 'sig', alg: 'EdDSA' }),
      jwk(encKey.publicKey, { kid: 'enc1', use: 'enc' }),
      jwk(pinned.publicKey, { kid: 'pinned', use: 'sig', alg: 'RS512' }),
    ],
  };
  const requests: string[] = [];
  let server: Server;
  let base = '';

  before(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '';
      requests.push(url);
      if (url === '/jwks' || url === '/slow/jwks' || url.startsWith('/tenants/acme/')) {
        const send = () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(keySet));
        };
        if (url.startsWith('/slow')) setTimeout(send, 50);
        else send();
      } else if (url === '/broken') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{not json');
      } else {
        res.writeHead(500);
        res.end('nope');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  const countOf = (path: string) => requests.filter((r) => r === path).length;

  it('selects the key by kid for RSA, EC and Ed25519 and fetches the set once', async () => {
    const { v } = verifier({ jwks_public_endpoint: `${base}/jwks` });
    const before = countOf('/jwks');
    assert.equal((await v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r' }, { kid: 'rsa1' }))).userId, 'r');
    assert.equal((await v.verifyConnectToken(await sign('RS384', rsa.privateKey, { sub: 'r3' }, { kid: 'rsa1' }))).userId, 'r3');
    assert.equal((await v.verifyConnectToken(await sign('ES256', ec.privateKey, { sub: 'e' }, { kid: 'ec1' }))).userId, 'e');
    assert.equal((await v.verifyConnectToken(await sign('EdDSA', ed.privateKey, { sub: 'd' }, { kid: 'ed1' }))).userId, 'd');
    assert.equal(
      (await v.verifySubscribeToken(await sign('EdDSA', ed.privateKey, { sub: 'd', channel: 'x' }, { kid: 'ed1' }))).channel,
      'x',
    );
    assert.equal(countOf('/jwks') - before, 1, 'all keys of the set are cached from one fetch');
  });

  it('refuses a missing kid, unknown kid, non-sig key, wrong key or wrong alg family', async () => {
    const { v } = verifier({ jwks_public_endpoint: `${base}/jwks` });
    const noKid = await rejectsWith(v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r' })), 'invalid');
    assert.ok(noKid.cause instanceof JwksError && noKid.cause.code === 'jwks_kid_missing');
    const unknown = await rejectsWith(v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r' }, { kid: 'zzz' })), 'invalid');
    assert.ok(unknown.cause instanceof JwksError && unknown.cause.code === 'jwks_key_not_found');
    const enc = await rejectsWith(v.verifyConnectToken(await sign('RS256', encKey.privateKey, { sub: 'r' }, { kid: 'enc1' })), 'invalid');
    assert.ok(enc.cause instanceof JwksError && enc.cause.code === 'jwks_key_not_found');
    await rejectsWith(v.verifyConnectToken(await sign('RS256', encKey.privateKey, { sub: 'r' }, { kid: 'rsa1' })), 'invalid');
    const family = await rejectsWith(v.verifyConnectToken(await sign('ES256', ec.privateKey, { sub: 'e' }, { kid: 'rsa1' })), 'invalid');
    assert.ok(family.cause instanceof JwksError && family.cause.code === 'jwks_key_unusable');
    // A key that names its alg serves only that alg.
    await rejectsWith(v.verifyConnectToken(await sign('RS256', pinned.privateKey, { sub: 'p' }, { kid: 'pinned' })), 'invalid');
    assert.equal((await v.verifyConnectToken(await sign('RS512', pinned.privateKey, { sub: 'p' }, { kid: 'pinned' }))).userId, 'p');
    const before = requests.length;
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 'h' })), 'invalid');
    assert.equal(requests.length, before, 'HMAC tokens never reach the JWKS endpoint');
  });

  it('caches keys for one hour and coalesces concurrent fetches', async () => {
    const { v, clock } = verifier({ jwks_public_endpoint: `${base}/slow/jwks` });
    const token = await sign('RS256', rsa.privateKey, { sub: 'r' }, { kid: 'rsa1' });
    const start = countOf('/slow/jwks');
    const results = await Promise.all([1, 2, 3, 4].map(() => v.verifyConnectToken(token)));
    assert.deepEqual(results.map((r) => r.userId), ['r', 'r', 'r', 'r']);
    assert.equal(countOf('/slow/jwks') - start, 1);
    clock.s += 3599;
    await v.verifyConnectToken(token);
    assert.equal(countOf('/slow/jwks') - start, 1);
    clock.s += 2;
    await v.verifyConnectToken(token);
    assert.equal(countOf('/slow/jwks') - start, 2);
  });

  it('treats failing endpoints as invalid tokens after two attempts', async () => {
    const { v } = verifier({ jwks_public_endpoint: `${base}/missing` });
    const err = await rejectsWith(v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r' }, { kid: 'rsa1' })), 'invalid');
    assert.ok(err.cause instanceof JwksError && err.cause.code === 'jwks_fetch_failed');
    assert.equal(countOf('/missing'), 2);
    const broken = verifier({ jwks_public_endpoint: `${base}/broken` });
    const bad = await rejectsWith(broken.v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r' }, { kid: 'rsa1' })), 'invalid');
    assert.ok(bad.cause instanceof JwksError && bad.cause.code === 'jwks_bad_response');
  });

  it('fills {{vars}} from issuer_regex and audience_regex named groups', async () => {
    const { v } = verifier({
      jwks_public_endpoint: `${base}/tenants/{{tenant}}/{{file}}`,
      issuer_regex: '^https://(?P<tenant>acme|globex)\\.example\\.com$',
      audience_regex: '^(?P<file>jwks|keys)$',
    });
    const claims = { sub: 't', iss: 'https://acme.example.com', aud: ['other', 'keys'] };
    const creds = await v.verifyConnectToken(await sign('ES256', ec.privateKey, claims, { kid: 'ec1' }));
    assert.equal(creds.userId, 't');
    assert.ok(requests.includes('/tenants/acme/keys'));
    const globex = await rejectsWith(
      v.verifyConnectToken(await sign('ES256', ec.privateKey, { ...claims, iss: 'https://globex.example.com' }, { kid: 'ec1' })),
      'invalid',
    );
    assert.ok(globex.cause instanceof JwksError);
    assert.ok(requests.includes('/tenants/globex/keys'), 'a different tenant resolves a different URL (and cache key)');
    await rejectsWith(v.verifyConnectToken(await sign('ES256', ec.privateKey, { ...claims, iss: 'https://evil.example.com' }, { kid: 'ec1' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await sign('ES256', ec.privateKey, { ...claims, aud: 'nope' }, { kid: 'ec1' })), 'invalid');
  });

  it('runs the template safety check unless skipped', () => {
    const endpoint = `${base}/tenants/{{tenant}}/jwks`;
    for (const issuer_regex of ['^(?P<tenant>[a-z]+)$', '^(?P<tenant>\\w+)$', '^(?P<tenant>.*)$', '^(?P<tenant>acme|glob.x)$', '^(?P<tenant>a(?:cme)?)$']) {
      assert.throws(() => new JwtVerifier({ jwks_public_endpoint: endpoint, issuer_regex }, undefined, GO), TokenConfigError, issuer_regex);
      new JwtVerifier({ jwks_public_endpoint: endpoint, issuer_regex, insecure_skip_jwks_endpoint_safety_check: true }, undefined, GO);
    }
    // A character class anywhere in a regex that feeds the template is refused.
    assert.throws(
      () => new JwtVerifier({ jwks_public_endpoint: endpoint, issuer_regex: '^(?P<tenant>acme)\\.[a-z]+$' }, undefined, GO),
      TokenConfigError,
    );
    new JwtVerifier({ jwks_public_endpoint: endpoint, issuer_regex: '^https://(?P<tenant>acme|glo\\.bex|(?:x|y)z)\\.io$' }, undefined, GO);
    // Repeating the group outside still captures one of its literals.
    new JwtVerifier({ jwks_public_endpoint: endpoint, issuer_regex: '^(?P<tenant>acme|globex)+$' }, undefined, GO);
    // Go group names may start with a digit; such a group is checked like any other.
    assert.throws(
      () => new JwtVerifier({ jwks_public_endpoint: `${base}/tenants/{{1t}}/jwks`, issuer_regex: '^(?P<1t>.+)$' }, undefined, GO),
      /named group 1t/,
    );
    new JwtVerifier({ jwks_public_endpoint: `${base}/tenants/{{1t}}/jwks`, issuer_regex: '^(?P<1t>acme|globex)$' }, undefined, GO);
    // Without placeholders there is nothing to check.
    new JwtVerifier({ jwks_public_endpoint: `${base}/jwks`, issuer_regex: '^(?P<tenant>.*)$' }, undefined, GO);
    assert.throws(() => new JwtVerifier({ jwks_public_endpoint: 'ftp://example.com/jwks' }, undefined, GO), TokenConfigError);
  });

  it('rejects resolved URLs whose path is not clean', async () => {
    const { v } = verifier({
      jwks_public_endpoint: `${base}/tenants/{{tenant}}/jwks`,
      issuer_regex: '^(?P<tenant>.*)$',
      insecure_skip_jwks_endpoint_safety_check: true,
    });
    const before = requests.length;
    for (const iss of ['acme/../../jwks', 'acme/%2e%2e/x', '', 'acme/./x']) {
      const err = await rejectsWith(v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r', iss }, { kid: 'rsa1' })), 'invalid');
      assert.ok(err.cause instanceof JwksError && err.cause.code === 'jwks_url_unsafe', iss);
    }
    assert.equal(requests.length, before);
    assert.equal((await v.verifyConnectToken(await sign('RS256', rsa.privateKey, { sub: 'r', iss: 'acme' }, { kid: 'rsa1' }))).userId, 'r');
  });
});

describe('audience and issuer', () => {
  it('checks audience exactly against a string or an array', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET, audience: 'gyre' });
    assert.equal((await v.verifyConnectToken(await hs({ sub: '1', aud: 'gyre' }))).userId, '1');
    assert.equal((await v.verifyConnectToken(await hs({ sub: '1', aud: ['x', 'gyre'] }))).userId, '1');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', aud: 'gyre2' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1' })), 'invalid');
    await rejectsWith(v.verifySubscribeToken(await hs({ sub: '1', channel: 'c', aud: ['x'] })), 'invalid');
  });

  it('matches audience_regex against any element', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET, audience_regex: '^app-(prod|dev)$' });
    assert.equal((await v.verifyConnectToken(await hs({ sub: '1', aud: ['zzz', 'app-dev'] }))).userId, '1');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', aud: 'app-test' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1' })), 'invalid');
  });

  it('checks issuer exactly or by regex', async () => {
    const exact = verifier({ hmac_secret_key: SECRET, issuer: 'https://auth' });
    assert.equal((await exact.v.verifyConnectToken(await hs({ sub: '1', iss: 'https://auth' }))).userId, '1');
    await rejectsWith(exact.v.verifyConnectToken(await hs({ sub: '1', iss: 'https://auth/' })), 'invalid');
    await rejectsWith(exact.v.verifyConnectToken(await hs({ sub: '1' })), 'invalid');
    const re = verifier({ hmac_secret_key: SECRET, issuer_regex: '(?i)^https://(?P<t>[a-z]+)\\.auth$' });
    assert.equal((await re.v.verifyConnectToken(await hs({ sub: '1', iss: 'https://ACME.auth' }))).userId, '1');
    await rejectsWith(re.v.verifyConnectToken(await hs({ sub: '1', iss: 'https://acme.auth.evil' })), 'invalid');
  });

  it('reads issuer_regex and audience_regex as Go patterns (\\A, \\z, $, \\s)', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET, issuer_regex: '\\Ahttps://issuer\\.example\\.com\\z', audience_regex: '^app\\s?x$' });
    const ok = { sub: '1', iss: 'https://issuer.example.com', aud: 'app x' };
    assert.equal((await v.verifyConnectToken(await hs(ok))).userId, '1');
    for (const iss of ['Ahttps://issuer.example.comz', 'https://issuer.example.com\n', 'xhttps://issuer.example.com']) {
      await rejectsWith(v.verifyConnectToken(await hs({ ...ok, iss })), 'invalid');
    }
    // Go's $ is end of text and its \s has no \v.
    await rejectsWith(v.verifyConnectToken(await hs({ ...ok, aud: 'app x\n' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ ...ok, aud: 'app\vx' })), 'invalid');
  });

  it('runs the regexes only on signed claims, and never on values over MAX_REGEX_CLAIM_LENGTH', async () => {
    let execs = 0;
    const counting = (source: string): PatternMatcher => {
      const re = compileGoRegex(source);
      return {
        test: (input) => {
          execs++;
          return re.test(input);
        },
        groups: (input) => {
          execs++;
          return re.groups(input);
        },
      };
    };
    const v = new JwtVerifier({ hmac_secret_key: SECRET, issuer_regex: '^a+$', audience_regex: '^b+$' }, undefined, { compileRegex: counting });
    const huge = { sub: '1', iss: 'a'.repeat(1 << 20), aud: 'b'.repeat(1 << 20) };
    await rejectsWith(v.verifyConnectToken(await hs(huge, 'not-the-secret')), 'invalid');
    assert.equal(execs, 0, 'a badly signed token never reaches the regexes');
    await rejectsWith(v.verifyConnectToken(await hs(huge)), 'invalid');
    assert.equal(execs, 0, 'over-long claims are not matched at all');
    const edge = { sub: '1', iss: 'a'.repeat(MAX_REGEX_CLAIM_LENGTH), aud: ['b'.repeat(MAX_REGEX_CLAIM_LENGTH + 1), 'b'.repeat(MAX_REGEX_CLAIM_LENGTH)] };
    assert.equal((await v.verifyConnectToken(await hs(edge))).userId, '1');
    assert.equal(execs, 2);
  });

  it('matches issuer_regex in linear time: a nested repeat cannot be made to backtrack', { timeout: 5000 }, async () => {
    const { v } = verifier({ hmac_secret_key: SECRET, issuer_regex: '^(a+)+$' });
    // A backtracking engine takes about 2^40 steps on this issuer.
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', iss: 'a'.repeat(40) + '!' })), 'invalid');
    assert.equal((await v.verifyConnectToken(await hs({ sub: '1', iss: 'a'.repeat(40) }))).userId, '1');
  });

  it('refuses conflicting or broken settings', () => {
    assert.throws(() => new JwtVerifier({ audience: 'a', audience_regex: 'a' }, undefined, GO), TokenConfigError);
    assert.throws(() => new JwtVerifier({ issuer: 'a', issuer_regex: 'a' }, undefined, GO), TokenConfigError);
    assert.throws(() => new JwtVerifier({ issuer_regex: '(' }, undefined, GO), /client\.token\.issuer_regex/);
    assert.throws(() => new JwtVerifier({ issuer_regex: '(?=x)' }, undefined, GO), /client\.token\.issuer_regex: invalid regex/);
    assert.throws(() => new JwtVerifier({}, { audience_regex: '[' }, GO), /client\.subscription_token\.audience_regex/);
  });

  it('checks audience and issuer even when signature verification is skipped', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET, audience: 'gyre', issuer: 'me' }, undefined, true);
    const forged = await hs({ sub: 'f', aud: 'gyre', iss: 'me' }, 'wrong');
    assert.equal((await v.verifyConnectToken(forged)).userId, 'f');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 'f', aud: 'x', iss: 'me' }, 'wrong')), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 'f', aud: 'gyre', iss: 'x' }, 'wrong')), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 'f', aud: 'gyre', iss: 'me', exp: NOW_S - 1 }, 'wrong')), 'expired');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 'f', aud: 'gyre', iss: 'me', channel: 'c' }, 'wrong')), 'invalid');
    await rejectsWith(v.verifySubscribeToken(await hs({ sub: 'f', aud: 'gyre', iss: 'me' }, 'wrong')), 'invalid');
    await rejectsWith(v.verifyConnectToken('garbage'), 'invalid');
  });
});

describe('connection token claims', () => {
  const { v } = verifier({ hmac_secret_key: SECRET });

  it('takes the user from sub or from user_id_claim', async () => {
    assert.equal((await v.verifyConnectToken(await hs({}))).userId, '');
    const custom = verifier({ hmac_secret_key: SECRET, user_id_claim: 'user_id' }).v;
    assert.equal((await custom.verifyConnectToken(await hs({ sub: 's', user_id: 'u1' }))).userId, 'u1');
    assert.equal((await custom.verifyConnectToken(await hs({ sub: 's', user_id: 42 }))).userId, '42');
    assert.equal((await custom.verifyConnectToken(await hs({ sub: 's' }))).userId, '');
    assert.throws(() => new JwtVerifier({ user_id_claim: 'user-id' }, undefined, GO), TokenConfigError);
  });

  it('refuses a connection token with a channel claim', async () => {
    const err = await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', channel: 'news' })), 'invalid');
    assert.match(err.message, /channel/);
    await rejectsWith(v.verifyConnectToken(await hs({ sub: '1', channel: 5 })), 'invalid');
    // The reference treats an empty channel as absent.
    assert.equal((await v.verifyConnectToken(await hs({ sub: '1', channel: '' }))).userId, '1');
  });

  it('applies the expire_at rules', async () => {
    const exp = NOW_S + 600;
    assert.equal((await v.verifyConnectToken(await hs({ exp }))).expireAt, exp);
    assert.equal((await v.verifyConnectToken(await hs({ exp: exp + 0.7 }))).expireAt, exp);
    assert.equal((await v.verifyConnectToken(await hs({}))).expireAt, 0);
    assert.equal((await v.verifyConnectToken(await hs({ exp, expire_at: 0 }))).expireAt, 0);
    assert.equal((await v.verifyConnectToken(await hs({ exp, expire_at: -5 }))).expireAt, 0);
    assert.equal((await v.verifyConnectToken(await hs({ exp, expire_at: NOW_S + 30 }))).expireAt, NOW_S + 30);
    assert.equal((await v.verifyConnectToken(await hs({ expire_at: NOW_S + 30 }))).expireAt, NOW_S + 30);
    assert.equal((await v.verifyConnectToken(await hs({ exp, expire_at: null }))).expireAt, exp);
    await rejectsWith(v.verifyConnectToken(await hs({ expire_at: 1.5 })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ expire_at: '100' })), 'invalid');
  });

  it('maps info, b64info, channels and meta', async () => {
    const creds = await v.verifyConnectToken(
      await hs({ sub: '1', info: { name: 'Alice', n: [1, 2] }, channels: ['news', 'chat'], meta: { plan: 'pro' } }),
    );
    assert.equal(text(creds.info), '{"name":"Alice","n":[1,2]}');
    assert.deepEqual(creds.channels, ['news', 'chat']);
    assert.equal(text(creds.meta), '{"plan":"pro"}');
    assert.equal(creds.subs, undefined);

    const bin = Uint8Array.from([0, 255, 1, 128]);
    const withB64 = await v.verifyConnectToken(await hs({ info: { ignored: true }, b64info: b64(bin) }));
    assert.deepEqual([...(withB64.info ?? [])], [...bin]);
    assert.equal(text((await v.verifyConnectToken(await hs({ info: 'str' }))).info), '"str"');
    const none = await v.verifyConnectToken(await hs({ sub: '1', b64info: '' }));
    assert.equal(none.info, undefined);
    assert.equal(none.channels, undefined);
    assert.equal(none.meta, undefined);

    for (const bad of ['%%%', 'AAA', 'QQ', 'QQ=', 'Q===']) await rejectsWith(v.verifyConnectToken(await hs({ b64info: bad })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ channels: 'news' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ channels: ['a', 1] })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ b64info: 12 })), 'invalid');
  });

  it('maps subs with info, data and override', async () => {
    const creds = await v.verifyConnectToken(
      await hs({
        sub: '1',
        channels: ['ignored-by-core'],
        subs: {
          news: { info: { room: 1 }, data: ['hello'], override: { presence: { value: true }, join_leave: { value: false } } },
          bin: { b64info: b64('ci'), b64data: b64('cd'), info: { no: 1 } },
          plain: {},
          everything: {
            override: {
              force_push_join_leave: { value: true },
              force_recovery: { value: false },
              force_positioning: {},
              unknown_key: { value: true },
            },
          },
        },
      }),
    );
    const subs = creds.subs ?? {};
    assert.deepEqual(Object.keys(subs).sort(), ['bin', 'everything', 'news', 'plain']);
    assert.equal(text(subs.news?.info), '{"room":1}');
    assert.equal(text(subs.news?.data), '["hello"]');
    assert.deepEqual(subs.news?.override, { presence: true, join_leave: false });
    assert.equal(text(subs.bin?.info), 'ci');
    assert.equal(text(subs.bin?.data), 'cd');
    assert.equal(subs.bin?.override, undefined);
    assert.deepEqual(subs.plain, {});
    assert.deepEqual(subs.everything?.override, { force_push_join_leave: true, force_recovery: false, force_positioning: false });
    assert.deepEqual(creds.channels, ['ignored-by-core']);

    const proto = await v.verifyConnectToken(await hs({ subs: { ['__proto__']: { info: 1 } } }));
    assert.ok(Object.hasOwn(proto.subs ?? {}, '__proto__'), 'a "__proto__" channel stays an own key');
    assert.equal(Object.getPrototypeOf(proto.subs), Object.prototype);

    await rejectsWith(v.verifyConnectToken(await hs({ subs: ['news'] })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ subs: { news: 'x' } })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ subs: { news: { b64data: '!!' } } })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ subs: { news: { override: { presence: true } } } })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ subs: { news: { override: { presence: { value: 'yes' } } } } })), 'invalid');
  });
});

describe('subscription token claims', () => {
  it('requires channel and maps client, info, data, override and expire_at', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET });
    const creds = await v.verifySubscribeToken(
      await hs({
        sub: 'u',
        channel: '$private',
        client: 'client-id',
        info: { chan: true },
        b64data: b64('raw'),
        data: { ignored: 1 },
        override: { force_recovery: { value: true } },
        exp: NOW_S + 100,
      }),
    );
    assert.equal(creds.userId, 'u');
    assert.equal(creds.channel, '$private');
    assert.equal(creds.client, 'client-id');
    assert.equal(text(creds.info), '{"chan":true}');
    assert.equal(text(creds.data), 'raw');
    assert.deepEqual(creds.override, { force_recovery: true });
    assert.equal(creds.expireAt, NOW_S + 100);

    const minimal = await v.verifySubscribeToken(await hs({ channel: 'c', expire_at: 0, exp: NOW_S + 5 }));
    assert.deepEqual(minimal, { userId: '', channel: 'c', expireAt: 0 });
    assert.equal((await v.verifySubscribeToken(await hs({ channel: 'c', b64info: b64('i') }))).info?.length, 1);
    await rejectsWith(v.verifySubscribeToken(await hs({ sub: 'u' })), 'invalid');
    await rejectsWith(v.verifySubscribeToken(await hs({ sub: 'u', channel: '' })), 'invalid');
    await rejectsWith(v.verifySubscribeToken(await hs({ channel: 'c', client: 7 })), 'invalid');
    await rejectsWith(v.verifySubscribeToken(await hs({ channel: 'c', b64info: 'nope!' })), 'invalid');
  });

  it('uses the subscription block when given, with its own user_id_claim', async () => {
    const { v } = verifier({ hmac_secret_key: SECRET }, { hmac_secret_key: 'sub-secret', user_id_claim: 'uid' });
    const subToken = await hs({ uid: 'x', sub: 'ignored', channel: 'c' }, 'sub-secret');
    assert.equal((await v.verifySubscribeToken(subToken)).userId, 'x');
    await rejectsWith(v.verifySubscribeToken(await hs({ uid: 'x', channel: 'c' })), 'invalid');
    await rejectsWith(v.verifyConnectToken(await hs({ sub: 'a' }, 'sub-secret')), 'invalid');
    assert.equal((await v.verifyConnectToken(await hs({ sub: 'a', uid: 'not-used' }))).userId, 'a');
  });
});
