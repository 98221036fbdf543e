import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVED_CONSUMERS } from '../config/index.js';
import { consumerInfo, publicationDataMode, SERVED_CONSUMER_TYPES } from './consumers.js';

describe('consumer wiring', () => {
  it('builds exactly the consumer types config loading does not warn about', () => {
    assert.deepEqual([...SERVED_CONSUMER_TYPES].sort(), [...SERVED_CONSUMERS].sort());
  });

  it('reads publication data mode keys by suffix, with Centrifugo defaults', () => {
    assert.deepEqual(publicationDataMode({ publication_data_mode: { enabled: true, channels_value: 'to', tags_value_prefix: 't-' } }, 'value'), {
      enabled: true,
      channelsHeader: 'to',
      idempotencyKeyHeader: 'centrifugo-idempotency-key',
      deltaHeader: 'centrifugo-delta',
      versionHeader: 'centrifugo-version',
      versionEpochHeader: 'centrifugo-version-epoch',
      tagsHeaderPrefix: 't-',
    });
    assert.equal(publicationDataMode({}, 'header').enabled, false);
  });

  it('shows consumer state in info wire names', () => {
    assert.deepEqual(consumerInfo({ name: 'c', type: 'postgresql', status: 'running', processed: 3, errors: 1, pending: 2, lastError: 'x', lastErrorAt: 't' }), {
      name: 'c',
      type: 'postgresql',
      status: 'running',
      processed: 3,
      errors: 1,
      pending: 2,
      last_error: 'x',
      last_error_at: 't',
    });
  });
});
