/**
 * Keepalive and stale connections against a server with a 1 s ping interval, a 500 ms
 * pong timeout and a 1 s stale_close_delay: pings arrive, pongs keep connections open,
 * silence closes them with 3012, and a connection that never connects gets 3502.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cmd, Rep, bytes, fBytes, frame, fVarint, msg, num } from '../helpers/proto.js';
import { RawClient } from '../helpers/raw-ws.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { collect, sleep, uniq, waitEvent } from '../helpers/wait.js';

const SECRET = 'keepalive-secret';

describe('keepalive (ping_interval 1s, pong_timeout 500ms, stale_close_delay 1s)', { timeout: 60_000, concurrency: true }, () => {
  let gyre: GyreProcess;
  before(async () => {
    gyre = await startGyre({
      client: {
        token: { hmac_secret_key: SECRET },
        allow_anonymous_connect_without_token: true,
        ping_interval: '1s',
        pong_timeout: '500ms',
        stale_close_delay: '1s',
      },
      channel: { namespaces: [{ name: 'chat', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true }] },
    });
  });
  after(() => gyre.stop());

  const isPing = (m: any): boolean => Object.keys(m).length === 0;

  it('JSON: connect advertises ping 1 / pong true; answered pings keep the connection alive', async () => {
    const c = await RawClient.open(gyre.wsUrl);
    let pings = 0;
    c.ws.on('message', (data: Buffer) => {
      for (const line of data.toString('utf8').split('\n')) {
        if (line === '{}') {
          pings++;
          c.sendRaw('{}');
        }
      }
    });
    const rep = await c.connect();
    assert.equal(rep.connect.ping, 1);
    assert.equal(rep.connect.pong, true);
    await sleep(2600);
    assert.ok(pings >= 2, `expected at least 2 pings in 2.6 s, got ${pings}`);
    assert.ok(c.isOpen, `connection closed: ${JSON.stringify(c.closeInfo)}`);
    assert.equal(c.json.filter(isPing).length, pings);
    await c.close();
  });

  it('JSON: no pong → close 3012 "no pong"', async () => {
    const c = await RawClient.open(gyre.wsUrl);
    await c.connect();
    const started = Date.now();
    const closed = await c.waitClose(4000);
    assert.equal(closed.code, 3012);
    assert.equal(closed.reason, 'no pong');
    assert.ok(c.json.some(isPing), 'a ping was sent before the close');
    assert.ok(Date.now() - started >= 900, 'not closed before the first ping + pong timeout');
  });

  it('Protobuf: the ping is the single byte 0x00 and an empty command answers it', async () => {
    const c = await RawClient.open(gyre.wsUrl, { protocols: ['centrifuge-protobuf'] });
    let pings = 0;
    c.ws.on('message', (data: Buffer) => {
      // A ping is an empty Reply: a zero length prefix. It may share a frame with other replies.
      if (data.length === 1 && data[0] === 0x00) {
        pings++;
        c.sendRaw(Buffer.from([0x00]));
      }
    });
    c.sendRaw(frame(msg(fVarint(Cmd.id, 1), fBytes(Cmd.connect, Buffer.alloc(0)))));
    const rep = await c.waitUntil(() => c.proto.find((f) => num(f, Rep.id) === 1), 'connect reply');
    assert.ok(bytes(rep, Rep.connect));
    await sleep(2600);
    assert.ok(pings >= 2, `expected at least 2 protobuf pings, got ${pings}`);
    assert.ok(c.isOpen, `connection closed: ${JSON.stringify(c.closeInfo)}`);
    await c.close();
  });

  it('the SDK answers pings and stays connected', async (t) => {
    const cl = new SdkClients(gyre.wsUrl, 'json');
    t.after(() => cl.closeAll());
    const c = cl.make();
    const disconnects = collect(c, 'disconnected');
    const connecting = collect(c, 'connecting');
    const up = waitEvent(c, 'connected');
    c.connect();
    await up;
    connecting.length = 0;
    await subscribed(c, `chat:${uniq()}`);
    await sleep(2600);
    assert.equal(c.state, 'connected');
    assert.deepEqual(disconnects, []);
    assert.deepEqual(connecting, []);
  });

  it('no connect within stale_close_delay → close 3502 "stale"', async () => {
    const c = await RawClient.open(gyre.wsUrl);
    const started = Date.now();
    const closed = await c.waitClose(4000);
    assert.equal(closed.code, 3502);
    assert.equal(closed.reason, 'stale');
    assert.ok(Date.now() - started >= 800, 'stale close came too early');
  });

  it('a failed connect (expired token, 109) leaves the connection to the stale timer → 3502', async () => {
    const c = await RawClient.open(gyre.wsUrl);
    const rep = await c.connect({ token: await hmacToken(SECRET, { sub: 'u', exp: Math.floor(Date.now() / 1000) - 60 }, null) });
    assert.equal(rep.error?.code, 109);
    const closed = await c.waitClose(4000);
    assert.equal(closed.code, 3502);
  });

  it('a healthy client still works after all of the above', async () => {
    await sleep(2000);
    const c = await RawClient.open(gyre.wsUrl);
    c.ws.on('message', (data: Buffer) => {
      if (data.toString('utf8') === '{}') c.sendRaw('{}');
    });
    const rep = await c.connect();
    assert.ok(rep.connect.client);
    assert.deepEqual(await c.call({ subscribe: { channel: `chat:${uniq()}` } }), { id: 2, subscribe: {} });
    await c.close();
  });
});
