import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commandFrameType, replyFrameType } from './client/frame-types.js';
import { TrafficCounters } from './traffic.js';

describe('traffic counters', () => {
  it('hand out one stable cell per (direction, transport, frame type)', () => {
    const t = new TrafficCounters();
    const a = t.cell('sent', 'websocket', 'push_publication');
    a.count += 2;
    a.bytes += 10;
    assert.equal(t.cell('sent', 'websocket', 'push_publication'), a);
    assert.notEqual(t.cell('received', 'websocket', 'push_publication'), a);
    assert.notEqual(t.cell('sent', 'sse', 'push_publication'), a);
    assert.deepEqual([...t.cells()].map((c) => [c.direction, c.transport, c.frameType, c.count, c.bytes]), [
      ['sent', 'websocket', 'push_publication', 2, 10],
      ['received', 'websocket', 'push_publication', 0, 0],
      ['sent', 'sse', 'push_publication', 0, 0],
    ]);
    assert.deepEqual(t.brokerSent, { publication: 0, join: 0, leave: 0, control: 0 });
  });

  it('name frames as Centrifugo labels them', () => {
    assert.equal(replyFrameType({}), 'server_ping');
    assert.equal(replyFrameType({ push: {} }), 'server_ping');
    assert.equal(replyFrameType({ push: { channel: 'a', pub: { data: new Uint8Array() } } }), 'push_publication');
    assert.equal(replyFrameType({ push: { disconnect: { code: 3001, reason: 'shutdown' } } }), 'push_disconnect');
    assert.equal(replyFrameType({ push: { channel: 'a', unsubscribe: { code: 2000, reason: '' } } }), 'push_unsubscribe');
    assert.equal(commandFrameType({ id: 1, presence_stats: { channel: 'a' } }), 'presence_stats');
    assert.equal(commandFrameType({}), 'client_pong');
  });
});
