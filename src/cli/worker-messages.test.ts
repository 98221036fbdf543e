import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asSupervisorMessage, asWorkerMessage, WORKER_ENV, workerNodeName, workerSlotFromEnv } from './worker-messages.js';

describe('supervisor ↔ worker messages', () => {
  it('reads the worker slot from the environment, only when well-formed', () => {
    assert.deepEqual(workerSlotFromEnv({ [WORKER_ENV]: '2/3' }), { index: 2, total: 3 });
    for (const bad of [undefined, '', '0/2', '3/2', '1', 'a/b', '1/2 ']) assert.equal(workerSlotFromEnv({ [WORKER_ENV]: bad }), undefined, String(bad));
    assert.ok(!WORKER_ENV.startsWith('GYRE_') && !WORKER_ENV.startsWith('CENTRIFUGO_'), 'not taken for a config variable');
    assert.equal(workerNodeName('edge', 2), 'edge-w2');
  });

  it('accepts only the documented shapes', () => {
    assert.deepEqual(asWorkerMessage({ type: 'gyre:ready', node: 'n-w1' }), { type: 'gyre:ready', node: 'n-w1' });
    assert.deepEqual(asWorkerMessage({ type: 'gyre:metrics-request', id: 4 }), { type: 'gyre:metrics-request', id: 4 });
    assert.deepEqual(asWorkerMessage({ type: 'gyre:metrics-json', id: 4, metrics: [], error: 'x' }), { type: 'gyre:metrics-json', id: 4, metrics: [], error: 'x' });
    assert.deepEqual(asSupervisorMessage({ type: 'gyre:workers', up: 1, total: 2 }), { type: 'gyre:workers', up: 1, total: 2 });
    assert.deepEqual(asSupervisorMessage({ type: 'gyre:metrics-result', id: 1, text: 'a 1\n' }), { type: 'gyre:metrics-result', id: 1, text: 'a 1\n' });
    assert.deepEqual(asSupervisorMessage({ type: 'gyre:metrics-result', id: 1 }), { type: 'gyre:metrics-result', id: 1, error: 'no metrics' });
    for (const bad of [null, 'gyre:ready', [], { type: 'gyre:ready' }, { type: 'gyre:metrics-request', id: '1' }, { type: 'gyre:metrics-json', id: 1 }, { cmd: 'NODE_CLUSTER' }]) {
      assert.equal(asWorkerMessage(bad), undefined, JSON.stringify(bad));
    }
    for (const bad of [{ type: 'gyre:workers', up: -1, total: 2 }, { type: 'gyre:metrics-collect', id: 1.5 }, { type: 'prom-client:getMetricsReq', requestId: 1 }]) {
      assert.equal(asSupervisorMessage(bad), undefined, JSON.stringify(bad));
    }
  });
});
