/**
 * Client-limited channels (the Gyre key `channel.client_channel_boundary`): with the boundary
 * set, a channel ending with `&<client id>` is subscribable only by that connection, even when
 * a subscription token or the namespace rules would allow another client; with the key at its
 * default (off) the same name is an ordinary channel. Driven by the official SDK, which learns
 * its client ID from the `connected` event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SdkClients, subscribed, subscribeFails } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { uniq, waitEvent } from '../helpers/wait.js';

const SECRET = 'client-limited-secret';
const NAMESPACES = [{ name: 'signal', allow_subscribe_for_client: true, allow_publish_for_client: true }];

/** A connected SDK client for `user` and the client ID from its `connected` context. */
async function connect(sdk: SdkClients, user: string): Promise<{ client: ReturnType<SdkClients['make']>; id: string }> {
  const client = sdk.make({ token: await hmacToken(SECRET, { sub: user }) });
  const ready = waitEvent<{ client: string }>(client, 'connected');
  client.connect();
  const ctx = await ready;
  assert.ok(ctx.client, 'connected context carries the client ID');
  return { client, id: ctx.client };
}

describe('client-limited channels', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let plain: GyreProcess;

  before(async () => {
    const base = { log: { level: 'warn' }, client: { token: { hmac_secret_key: SECRET } } };
    gyre = await startGyre({ ...base, channel: { client_channel_boundary: '&', namespaces: NAMESPACES } });
    plain = await startGyre({ ...base, channel: { namespaces: NAMESPACES } });
    assert.ok(!gyre.output().includes('client_channel_boundary'), gyre.output());
  });
  after(async () => {
    await Promise.all([gyre?.stop(), plain?.stop()]);
  });

  for (const protocol of ['json', 'protobuf'] as const) {
    it(`${protocol}: only the named client subscribes; others get 103 and can still publish to it`, async () => {
      const sdk = new SdkClients(gyre.wsUrl, protocol);
      try {
        const owner = await connect(sdk, 'alice');
        const other = await connect(sdk, 'alice');
        const inbox = `signal:${uniq('inbox')}&${owner.id}`;

        const denied = await subscribeFails(other.client, inbox);
        assert.equal(denied.code, 103, `another connection of the same user: ${JSON.stringify(denied)}`);
        const stranger = await connect(sdk, 'bob');
        assert.equal((await subscribeFails(stranger.client, inbox)).code, 103);
        // The whole tail after the boundary must be the ID: a longer one is nobody's inbox.
        assert.equal((await subscribeFails(owner.client, `signal:${uniq()}&${owner.id}x`)).code, 103);

        const { sub } = await subscribed(owner.client, inbox);
        const got = waitEvent<{ data: unknown }>(sub, 'publication');
        const body = { hello: 'owner' };
        await other.client.publish(inbox, protocol === 'json' ? body : new TextEncoder().encode(JSON.stringify(body)));
        const pub = await got;
        const data = pub.data instanceof Uint8Array ? JSON.parse(Buffer.from(pub.data).toString('utf8')) : pub.data;
        assert.deepEqual(data, { hello: 'owner' });
      } finally {
        sdk.closeAll();
      }
    });
  }

  it('a subscription token does not open another client\'s channel', async () => {
    const sdk = new SdkClients(gyre.wsUrl, 'json');
    try {
      const owner = await connect(sdk, 'alice');
      const thief = await connect(sdk, 'mallory');
      const inbox = `$signal:${uniq('inbox')}&${owner.id}`;
      const token = await hmacToken(SECRET, { sub: 'mallory', channel: inbox });
      assert.equal((await subscribeFails(thief.client, inbox, { token })).code, 103);
      const ownerToken = await hmacToken(SECRET, { sub: 'alice', channel: inbox });
      await subscribed(owner.client, inbox, { token: ownerToken });
    } finally {
      sdk.closeAll();
    }
  });

  it('with the key at its default the boundary means nothing', async () => {
    const sdk = new SdkClients(plain.wsUrl, 'json');
    try {
      const owner = await connect(sdk, 'alice');
      const other = await connect(sdk, 'bob');
      await subscribed(other.client, `signal:${uniq('inbox')}&${owner.id}`);
    } finally {
      sdk.closeAll();
    }
  });
});
