import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvelopeError, decodeBody, decodeClientInfo, decodeFrame, encodeBody, encodeClientInfo, joinLeaveFrame, liveFrame } from './envelope.js';

const bytes = (s: string) => Buffer.from(s);

describe('broker envelope', () => {
  it('round-trips a body with info, tags and binary data', () => {
    const data = Buffer.from([0, 1, 2, 0x3a, 255]);
    const info = { user: 'ü', client: 'c', conn_info: bytes('{"a":1}'), chan_info: Buffer.alloc(0) };
    const body = encodeBody(data, 1_700_000_000_123, info, { k: 'v', '': 'empty' });
    const pub = decodeBody(body, 7);
    assert.deepEqual(pub, { data, offset: 7, time: 1_700_000_000_123, info, tags: { k: 'v', '': 'empty' } });
    assert.deepEqual(decodeBody(encodeBody(Buffer.alloc(0), 0), 0), { data: Buffer.alloc(0), offset: 0, time: 0 });
  });

  it('decodes the frames Lua scripts build: epoch only on offset 1, prev at offset - 1', () => {
    const b1 = encodeBody(bytes('one'), 1);
    const b2 = encodeBody(bytes('two'), 2);
    const first = decodeFrame(Buffer.concat([Buffer.from('p1:AbCdEfGh:0:0:'), b1]));
    assert.ok(first.kind === 'pub');
    assert.deepEqual([first.pub.offset, first.pub.epoch, first.position, first.delta, first.prev], [1, 'AbCdEfGh', { offset: 1, epoch: 'AbCdEfGh' }, false, undefined]);
    const second = decodeFrame(Buffer.concat([Buffer.from(`p2:AbCdEfGh:1:${b1.length}:`), b1, b2]));
    assert.ok(second.kind === 'pub');
    assert.equal(second.pub.epoch, undefined);
    assert.equal(second.pub.data.toString(), 'two');
    assert.equal(second.delta, true);
    assert.deepEqual([second.prev?.offset, Buffer.from(second.prev!.data).toString()], [1, 'one']);
  });

  it('frames live publications, joins and leaves', () => {
    const live = decodeFrame(liveFrame(encodeBody(bytes('x'), 5), true));
    assert.ok(live.kind === 'pub');
    assert.deepEqual([live.position, live.delta, live.pub.epoch], [{ offset: 0, epoch: '' }, true, undefined]);
    const info = { user: 'u', client: 'c' };
    assert.deepEqual(decodeFrame(joinLeaveFrame('join', info)), { kind: 'join', info });
    assert.deepEqual(decodeFrame(joinLeaveFrame('leave', info)), { kind: 'leave', info });
    assert.deepEqual(decodeClientInfo(encodeClientInfo(info)), info);
  });

  it('rejects malformed input with EnvelopeError', () => {
    for (const bad of [Buffer.from('x'), Buffer.from('p1:e'), Buffer.from('p1:e:0:99:ab'), Buffer.from([0x6a, 5, 0x61]), Buffer.from('p1:e:0:0:\u0002')]) {
      assert.throws(() => decodeFrame(bad), EnvelopeError);
    }
  });
});
