import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { codecFor } from '../protocol/codec.js';
import { connectRequestOf, metadataHeaders, stripLengthPrefix, uniStreamProtoPath } from './uni-grpc.js';

const pkg = protoLoader.loadSync(uniStreamProtoPath, { keepCase: true, longs: Number, defaults: false });
const consume = (pkg['centrifugal.centrifugo.unistream.CentrifugoUniStream'] as grpc.ServiceDefinition).Consume!;

describe('uni_grpc conversion', () => {
  it('reads a stream ConnectRequest as the protocol ConnectRequest', () => {
    const msg = consume.requestDeserialize(
      consume.requestSerialize({ token: 't', data: Buffer.from('{"a":1}'), name: 'n', version: 'v', headers: { h: '1' }, subs: { 'ns:c': { recover: true, epoch: 'e', offset: 5 }, plain: {} } }),
    );
    const req = connectRequestOf(msg);
    assert.deepEqual({ ...req, data: Buffer.from(req.data!).toString() }, {
      token: 't',
      data: '{"a":1}',
      name: 'n',
      version: 'v',
      headers: { h: '1' },
      subs: { 'ns:c': { recover: true, epoch: 'e', offset: 5 }, plain: {} },
    });
    assert.deepEqual(connectRequestOf({}), {});
  });

  it('sends codec pushes as bare Push messages the stream proto decodes', () => {
    const codec = codecFor('protobuf');
    const big = 'x'.repeat(300); // a two-byte length prefix
    for (const push of [{ channel: 'ns:c', pub: { data: Buffer.from('{"n":1}'), offset: 3 } }, { disconnect: { code: 3001, reason: big } }, { connect: { client: 'id', version: '1', ping: 25, pong: true } }]) {
      const item = codec.encodePush(push as never);
      const msg = stripLengthPrefix(item);
      const decoded = consume.responseDeserialize(msg);
      if ('pub' in push) {
        assert.equal(decoded.channel, 'ns:c');
        assert.equal(decoded.pub.data.toString(), '{"n":1}');
        assert.equal(decoded.pub.offset, 3);
      } else if ('disconnect' in push) {
        assert.deepEqual(decoded.disconnect, { code: 3001, reason: big });
      } else {
        assert.deepEqual(decoded.connect, { client: 'id', version: '1', ping: 25, pong: true });
      }
    }
  });

  it('passes text metadata as request headers', () => {
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer x');
    md.add('x-multi', 'a');
    md.add('x-multi', 'b');
    md.set('trace-bin', Buffer.from([1, 2]));
    assert.deepEqual(metadataHeaders(md), { authorization: 'Bearer x', 'x-multi': 'a, b' });
  });
});
