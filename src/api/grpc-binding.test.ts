import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { apiErrorGrpcCode, apiMethodName, GRPC_API_SERVICE, loadApiProto, replyToGrpc, resultToGrpc, statusDetails } from './grpc-binding.js';
import { RawJson } from './raw-json.js';
import { publish } from './methods/publish.js';
import { rpc } from './methods/rpc.js';

const pkg = loadApiProto();
const service = pkg[GRPC_API_SERVICE] as grpc.ServiceDefinition;

/** A request object as the server sees it: serialized by a client, deserialized by the service. */
function viaWire(method: string, req: unknown): any {
  const m = service[method]!;
  return m.requestDeserialize(m.requestSerialize(req));
}

/** A response as a client sees it after the service serialized it. */
function responseViaWire(method: string, res: unknown): any {
  const m = service[method]!;
  return m.responseDeserialize(m.responseSerialize(res));
}

describe('GRPC API conversion', () => {
  it('names executor methods after GRPC methods', () => {
    assert.equal(apiMethodName('Publish'), 'publish');
    assert.equal(apiMethodName('PresenceStats'), 'presence_stats');
    assert.equal(apiMethodName('HistoryRemove'), 'history_remove');
    assert.equal(apiMethodName('RPC'), 'rpc');
    assert.equal(apiMethodName('MapReadStream'), 'map_read_stream');
    assert.equal(apiMethodName('SharedPollPublish'), 'shared_poll_publish');
  });

  it('serves every upstream method name with snake_case wire fields', () => {
    for (const m of ['Batch', 'Publish', 'Broadcast', 'Subscribe', 'Unsubscribe', 'Disconnect', 'Presence', 'PresenceStats', 'History', 'HistoryRemove', 'Info', 'RPC', 'Refresh', 'Channels', 'Connections', 'MapPublish', 'MapRemove', 'MapReadState', 'MapReadStream', 'MapStats', 'MapClear', 'SharedPollPublish']) {
      assert.ok(service[m], m);
    }
    const req = viaWire('Publish', { channel: 'c', skip_history: true, idempotency_key: 'k', version_epoch: 'e', version: 7 });
    assert.deepEqual(req, { channel: 'c', skip_history: true, idempotency_key: 'k', version_epoch: 'e', version: 7 });
  });

  it('hands bytes payloads to the method decoders as they are, JSON or not', () => {
    const req = viaWire('Publish', { channel: 'c', data: Buffer.from('{"a": 1}'), tags: { t: 'v' } });
    const decoded = publish.decode(req, new Map());
    assert.deepEqual(Buffer.from(decoded.data!).toString(), '{"a": 1}');
    assert.deepEqual(decoded.tags, { t: 'v' });
    const binary = publish.decode(viaWire('Publish', { channel: 'c', data: Buffer.from([0xff, 0x00]) }), new Map());
    assert.deepEqual([...binary.data!], [0xff, 0x00]);
    const call = rpc.decode(viaWire('RPC', { method: 'm', params: Buffer.from('[1]') }), new Map());
    assert.equal(Buffer.from(call.params!).toString(), '[1]');
    // An absent bytes field stays absent.
    assert.equal(publish.decode(viaWire('Publish', { channel: 'c' }), new Map()).data, undefined);
  });

  it('turns raw JSON and base64 results into bytes', () => {
    const result = {
      publications: [
        { data: new RawJson('{"x":1}'), offset: 1, info: { user: 'u', client: 'c', conn_info: new RawJson('{"n":"a"}') } },
        { b64data: Buffer.from([1, 2, 3]).toString('base64'), offset: 2 },
      ],
      epoch: 'ep',
      offset: 2,
    };
    const out = responseViaWire('History', replyToGrpc('history', { result }));
    assert.equal(out.result.publications[0].data.toString(), '{"x":1}');
    assert.equal(out.result.publications[0].info.conn_info.toString(), '{"n":"a"}');
    assert.deepEqual([...out.result.publications[1].data], [1, 2, 3]);
    assert.equal(out.result.epoch, 'ep');
    assert.deepEqual(resultToGrpc({ a: undefined, b: [new RawJson('1')] }), { b: [Buffer.from('1')] });
  });

  it('answers errors in the response, and batch results bare', () => {
    assert.deepEqual(responseViaWire('Publish', replyToGrpc('publish', { error: { code: 102, message: 'unknown channel' } })), { error: { code: 102, message: 'unknown channel' } });
    const batch = responseViaWire('Batch', replyToGrpc('batch', { result: { replies: [{ publish: { offset: 3, epoch: 'e' } }, { error: { code: 104, message: 'not found' } }] } }));
    assert.deepEqual(batch, { replies: [{ publish: { offset: 3, epoch: 'e' } }, { error: { code: 104, message: 'not found' } }] });
  });

  it('maps API error codes to GRPC statuses', () => {
    assert.deepEqual(
      [100, 102, 104, 107, 108, 112, 113, 999].map(apiErrorGrpcCode),
      [grpc.status.INTERNAL, grpc.status.NOT_FOUND, grpc.status.NOT_FOUND, grpc.status.INVALID_ARGUMENT, grpc.status.INVALID_ARGUMENT, grpc.status.OUT_OF_RANGE, grpc.status.ALREADY_EXISTS, grpc.status.INTERNAL],
    );
  });

  it('encodes the status details as google.rpc.Status with the Error message', () => {
    const bin = statusDetails(5, { code: 102, message: 'unknown channel' });
    // Status: code 5, message, one Any detail.
    assert.equal(bin[0], 0x08);
    assert.equal(bin[1], 5);
    assert.equal(bin[2], 0x12);
    assert.equal(bin.subarray(4, 4 + bin[3]!).toString(), 'unknown channel');
    const anyStart = 4 + bin[3]!;
    assert.equal(bin[anyStart], 0x1a);
    assert.ok(bin.includes(Buffer.from('type.googleapis.com/centrifugal.centrifugo.api.Error')));
    // The Error message inside: code 102, message.
    assert.ok(bin.includes(Buffer.concat([Buffer.from([0x08, 102, 0x12, 15]), Buffer.from('unknown channel')])));
  });
});
