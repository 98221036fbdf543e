import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricFamilyJson } from '../metrics/index.js';
import { MetricsGather, type GatherTarget } from './metrics-gather.js';
import type { SupervisorToWorker } from './worker-messages.js';

const counter = (value: number): MetricFamilyJson[] => [
  { name: 'test_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value, labels: {} }] },
];

/** Targets that record what they were sent. */
function targets(...indexes: number[]): { list: GatherTarget[]; sent: Map<number, SupervisorToWorker[]> } {
  const sent = new Map<number, SupervisorToWorker[]>();
  const list = indexes.map((index) => {
    sent.set(index, []);
    return { index, send: (m: SupervisorToWorker) => sent.get(index)?.push(m) };
  });
  return { list, sent };
}

function collectId(sent: Map<number, SupervisorToWorker[]>, index: number): number {
  const m = sent.get(index)?.[0];
  assert.equal(m?.type, 'gyre:metrics-collect');
  return m.id;
}

describe('metrics gather (supervisor side of /metrics)', () => {
  it('merges every answer; concurrent requests share one collection', async () => {
    const g = new MetricsGather(10_000);
    const { list, sent } = targets(1, 2);
    const first = g.collect(list);
    const second = g.collect(list);
    assert.equal(sent.get(1)?.length, 1, 'one collect message per worker');
    const id = collectId(sent, 1);
    g.answer(2, id, counter(4), undefined);
    g.answer(2, id, counter(100), undefined); // a repeated answer counts once
    g.answer(1, id, counter(3), undefined);
    const [a, b] = await Promise.all([first, second]);
    assert.match(a, /^test_total 7$/m);
    assert.equal(a, b);
  });

  it('leaves out a worker that exits meanwhile; ignores answers to another collection', async () => {
    const g = new MetricsGather(10_000);
    const { list, sent } = targets(1, 2);
    const p = g.collect(list);
    const id = collectId(sent, 1);
    g.answer(1, id + 1, counter(50), undefined);
    g.answer(1, id, counter(3), undefined);
    g.forget(2);
    assert.match(await p, /^test_total 3$/m);
  });

  it('fails as a whole on a time-out or a worker error, and starts afresh afterwards', async () => {
    const g = new MetricsGather(30);
    const { list, sent } = targets(1, 2);
    const timedOut = g.collect(list);
    g.answer(1, collectId(sent, 1), counter(3), undefined);
    await assert.rejects(timedOut, /did not report metrics within 30 ms/);

    const again = targets(1, 2);
    const failed = g.collect(again.list);
    g.answer(2, collectId(again.sent, 2), [], 'registry broke');
    await assert.rejects(failed, /worker 2: registry broke/);

    await assert.rejects(g.collect([]), /no worker is ready/);
    const closing = targets(1);
    const closed = g.collect(closing.list);
    g.close();
    await assert.rejects(closed, /shutting down/);
  });
});
