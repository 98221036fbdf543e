/**
 * Connection token verification end to end: HMAC, RSA and ECDSA keys from the config,
 * keys fetched from a JWKS endpoint, refresh rules, and connects without credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { RawClient } from '../helpers/raw-ws.js';
import { corruptSignature, hmacToken, newKeyPair, serveJwks, signedToken, type JwksServer, type KeyPair } from '../helpers/tokens.js';
import { collect, sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'auth-e2e-secret';

describe('token verification', { timeout: 60_000 }, () => {
  let rsa: KeyPair;
  let ec: KeyPair;
  let otherRsa: KeyPair;
  let jwksRsa: KeyPair;
  let jwksEc: KeyPair;
  let jwks: JwksServer;
  let keys: GyreProcess;
  let viaJwks: GyreProcess;

  const clientsFor = (t: TestContext, gyre: GyreProcess): SdkClients => {
    const c = new SdkClients(gyre.wsUrl, 'json');
    t.after(() => c.closeAll());
    return c;
  };

  before(async () => {
    [rsa, ec, otherRsa, jwksRsa, jwksEc] = await Promise.all([
      newKeyPair('RS256'),
      newKeyPair('ES256'),
      newKeyPair('RS256'),
      newKeyPair('RS256', 'jwks-rsa'),
      newKeyPair('ES256', 'jwks-ec'),
    ]);
    jwks = await serveJwks([jwksRsa, jwksEc]);
    const channels = { namespaces: [{ name: 'chat', presence: true, allow_subscribe_for_client: true, allow_presence_for_client: true }, { name: 'feed' }] };
    [keys, viaJwks] = await Promise.all([
      startGyre({
        client: {
          token: { hmac_secret_key: SECRET, rsa_public_key: rsa.publicPem, ecdsa_public_key: ec.publicPem },
          expired_close_delay: '1s',
        },
        channel: channels,
      }),
      startGyre({ client: { token: { jwks_public_endpoint: jwks.url } }, channel: channels }),
    ]);
  });
  after(async () => {
    await Promise.all([keys?.stop(), viaJwks?.stop()]);
    await jwks?.close();
  });

  /** Connects with the token and returns the user id the server put into presence. */
  async function userOf(t: TestContext, gyre: GyreProcess, token: string): Promise<string> {
    const c = await clientsFor(t, gyre).connected({ token });
    const { sub } = await subscribed(c, `chat:${uniq()}`);
    const pres = await sub.presence();
    const infos = Object.values(pres.clients);
    assert.equal(infos.length, 1);
    return infos[0]!.user;
  }

  async function disconnectCode(t: TestContext, gyre: GyreProcess, token?: string): Promise<number> {
    const c = clientsFor(t, gyre).make(token === undefined ? {} : { token });
    const gone = waitEvent(c, 'disconnected');
    c.connect();
    return (await gone).code;
  }

  it('RS256 token verified with client.token.rsa_public_key', async (t) => {
    assert.equal(await userOf(t, keys, await signedToken(rsa, { sub: 'rsa-user' })), 'rsa-user');
  });

  it('ES256 token verified with client.token.ecdsa_public_key', async (t) => {
    assert.equal(await userOf(t, keys, await signedToken(ec, { sub: 'ec-user' })), 'ec-user');
  });

  it('HS256 token verified alongside the public keys', async (t) => {
    assert.equal(await userOf(t, keys, await hmacToken(SECRET, { sub: 'hmac-user' })), 'hmac-user');
  });

  it('tokens signed by an unknown key or with a broken signature are disconnected with 3500', async (t) => {
    assert.equal(await disconnectCode(t, keys, await signedToken(otherRsa, { sub: 'x' })), 3500);
    assert.equal(await disconnectCode(t, keys, corruptSignature(await signedToken(ec, { sub: 'x' }))), 3500);
    assert.equal(await disconnectCode(t, keys, await hmacToken('not-the-secret', { sub: 'x' })), 3500);
    assert.equal(await disconnectCode(t, keys, 'not.a.jwt'), 3500);
  });

  it('a connection token carrying a "channel" claim is rejected with 3500', async (t) => {
    assert.equal(await disconnectCode(t, keys, await hmacToken(SECRET, { sub: 'x', channel: 'chat:x' })), 3500);
  });

  it('no token and no anonymous access: disconnect 3501', async (t) => {
    assert.equal(await disconnectCode(t, keys), 3501);
  });

  it('JWKS: RSA and EC keys are fetched by kid', async (t) => {
    assert.equal(await userOf(t, viaJwks, await signedToken(jwksRsa, { sub: 'jwks-rsa-user' }, { withKid: true })), 'jwks-rsa-user');
    assert.equal(await userOf(t, viaJwks, await signedToken(jwksEc, { sub: 'jwks-ec-user' }, { withKid: true })), 'jwks-ec-user');
    assert.ok(jwks.hits() >= 1, 'the JWKS endpoint was queried');
  });

  it('JWKS: unknown kid, missing kid and a key not in the set are disconnected with 3500', async (t) => {
    const stranger = { ...otherRsa, kid: 'nobody' };
    assert.equal(await disconnectCode(t, viaJwks, await signedToken(stranger, { sub: 'x' }, { withKid: true })), 3500);
    assert.equal(await disconnectCode(t, viaJwks, await signedToken(jwksRsa, { sub: 'x' })), 3500);
    const wrongKey = { ...otherRsa, kid: 'jwks-rsa' };
    assert.equal(await disconnectCode(t, viaJwks, await signedToken(wrongKey, { sub: 'x' }, { withKid: true })), 3500);
  });

  describe('client-side refresh', { concurrency: true }, () => {
    it('getToken refresh before expiry keeps the connection past exp + expired_close_delay', async (t) => {
      let calls = 0;
      const c = clientsFor(t, keys).make({
        token: await hmacToken(SECRET, { sub: 'refresh-user' }, 2),
        getToken: async () => {
          calls++;
          return hmacToken(SECRET, { sub: 'refresh-user' }, 60);
        },
      });
      const disconnects = collect(c, 'disconnected');
      const up = waitEvent(c, 'connected');
      c.connect();
      await up;
      const connecting = collect(c, 'connecting');
      await waitFor(() => calls >= 1, 'getToken', 5000);
      await sleep(1800);
      assert.equal(c.state, 'connected');
      assert.deepEqual(disconnects, []);
      assert.deepEqual(connecting, []);
    });

    it('refresh keeps token channels when they are unchanged; a changed set disconnects with 3010', async (t) => {
      const channel = `feed:${uniq()}`;
      const same = clientsFor(t, keys).make({
        token: await hmacToken(SECRET, { sub: 'ch-user', channels: [channel] }, 2),
        getToken: () => hmacToken(SECRET, { sub: 'ch-user', channels: [channel] }, 60),
      });
      const changed = clientsFor(t, keys).make({
        token: await hmacToken(SECRET, { sub: 'ch-user', channels: [channel] }, 2),
        getToken: () => hmacToken(SECRET, { sub: 'ch-user', channels: [channel, `feed:${uniq()}`] }, 60),
      });
      const sameEvents = collect(same, 'connecting');
      const changedDown = waitEvent(changed, 'connecting', { timeoutMs: 6000, pred: (ctx) => ctx.code !== 0 });
      const ups = [waitEvent(same, 'connected'), waitEvent(changed, 'connected')];
      same.connect();
      changed.connect();
      await Promise.all(ups);
      sameEvents.length = 0;
      assert.equal((await changedDown).code, 3010);
      await sleep(1500);
      assert.equal(same.state, 'connected');
      assert.deepEqual(sameEvents, []);
    });

    it('raw refresh: another user\'s token → 3500; an expired token → 3005; empty token → 3501', async () => {
      const cases: [string, number][] = [
        [await hmacToken(SECRET, { sub: 'someone-else' }), 3500],
        [await hmacToken(SECRET, { sub: 'raw-user', exp: Math.floor(Date.now() / 1000) - 10 }, null), 3005],
        ['', 3501],
      ];
      await Promise.all(
        cases.map(async ([token, code]) => {
          const raw = await RawClient.open(keys.wsUrl);
          const rep = await raw.connect({ token: await hmacToken(SECRET, { sub: 'raw-user' }) });
          assert.equal(rep.connect.expires, true);
          assert.ok(rep.connect.ttl > 3000 && rep.connect.ttl <= 3600, `ttl ${rep.connect.ttl}`);
          raw.send({ id: 2, refresh: { token } });
          const closed = await raw.waitClose();
          assert.equal(closed.code, code, `refresh with ${token === '' ? 'empty token' : token.slice(0, 20)}`);
          assert.equal(raw.json.find((m) => m.id === 2), undefined, 'no reply is written for a disconnecting refresh');
        }),
      );
      const ok = await RawClient.open(keys.wsUrl);
      await ok.connect({ token: await hmacToken(SECRET, { sub: 'raw-user' }, 60) });
      const rep = await ok.call({ refresh: { token: await hmacToken(SECRET, { sub: 'raw-user' }, 120) } });
      assert.equal(rep.refresh.expires, true);
      assert.ok(rep.refresh.ttl > 100 && rep.refresh.ttl <= 120, `ttl ${rep.refresh.ttl}`);
      await ok.close();
    });
  });
});
