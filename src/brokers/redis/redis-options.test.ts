import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fnv1a64, jumpHash, shardIndex } from './connection.js';
import { shardSpecs } from './options.js';

describe('redis shard selection', () => {
  it('jump hash matches the published test vectors', () => {
    assert.equal(jumpHash(1n, 1), 0);
    assert.equal(jumpHash(42n, 57), 43);
    assert.equal(jumpHash(0xdead10ccn, 1), 0);
    assert.equal(jumpHash(0xdead10ccn, 666), 361);
    assert.equal(jumpHash(256n, 1024), 520);
  });

  it('FNV-1a 64 matches the reference values', () => {
    assert.equal(fnv1a64(''), 0xcbf29ce484222325n);
    assert.equal(fnv1a64('a'), 0xaf63dc4c8601ec8cn);
    assert.equal(fnv1a64('foobar'), 0x85944171f73967e8n);
  });

  it('spreads channels over shards and moves few when a shard is added', () => {
    const counts = [0, 0, 0];
    let moved = 0;
    for (let i = 0; i < 3000; i++) {
      const s3 = shardIndex(`chan:${i}`, 3);
      counts[s3]!++;
      if (shardIndex(`chan:${i}`, 4) !== s3) moved++;
    }
    for (const c of counts) assert.ok(c > 800 && c < 1200, `balanced: ${counts.join(',')}`);
    assert.ok(moved > 500 && moved < 1000, `about a quarter moved: ${moved}`);
    assert.equal(shardIndex('anything', 1), 0);
  });
});

describe('redis address parsing', () => {
  it('defaults to redis://127.0.0.1:6379 with 1 s dial and 4 s command timeouts', () => {
    assert.deepEqual(shardSpecs({}), [{ mode: 'standalone', host: '127.0.0.1', port: 6379, db: 0, connectTimeoutMs: 1000, ioTimeoutMs: 4000 }]);
  });

  it('reads host:port and URLs with credentials, db and Go-duration query options', () => {
    const [a, b] = shardSpecs({ address: ['10.0.0.1:7000', 'redis://u:p%40ss@h2:7001/3?io_timeout=1500ms&connect_timeout=2s'], db: 1, password: 'x' });
    assert.deepEqual(a, { mode: 'standalone', host: '10.0.0.1', port: 7000, db: 1, password: 'x', connectTimeoutMs: 1000, ioTimeoutMs: 4000 });
    assert.deepEqual(b, { mode: 'standalone', host: 'h2', port: 7001, db: 3, username: 'u', password: 'p@ss', connectTimeoutMs: 2000, ioTimeoutMs: 1500 });
  });

  it('reads sentinel and cluster URLs, unix sockets and rediss TLS', () => {
    const [s] = shardSpecs({ address: ['redis+sentinel://h1:26379?addr=h2:26380&sentinel_master_name=mymaster&sentinel_password=sp'] });
    assert.equal(s?.mode, 'sentinel');
    assert.deepEqual(s?.mode === 'sentinel' && [s.sentinels, s.masterName, s.sentinelPassword], [[{ host: 'h1', port: 26379 }, { host: 'h2', port: 26380 }], 'mymaster', 'sp']);
    const [c] = shardSpecs({ address: ['redis+cluster://h1:7000?addr=h2:7001'] });
    assert.deepEqual(c?.mode === 'cluster' && c.seeds, [{ host: 'h1', port: 7000 }, { host: 'h2', port: 7001 }]);
    const [u] = shardSpecs({ address: ['unix:///tmp/redis.sock'] });
    assert.deepEqual(u?.mode === 'standalone' && u.path, '/tmp/redis.sock');
    const [t] = shardSpecs({ address: ['rediss://h:6380'] });
    assert.equal(t?.tls?.rejectUnauthorized, true);
    assert.throws(() => shardSpecs({ address: ['redis+sentinel://h1:26379'] }), /sentinel_master_name/);
  });

  it('cluster_address wins over sentinel_address, which wins over address; one spec per entry', () => {
    const specs = shardSpecs({ address: ['a:1'], sentinel_address: ['s:2'], sentinel_master_name: 'm', cluster_address: ['c1:7000,c2:7001', 'd1:8000'] });
    assert.deepEqual(specs.map((s) => s.mode), ['cluster', 'cluster']);
    assert.deepEqual(specs[0]?.mode === 'cluster' && specs[0].seeds, [{ host: 'c1', port: 7000 }, { host: 'c2', port: 7001 }]);
    const sentinels = shardSpecs({ address: ['a:1'], sentinel_address: ['s1:26379,s2:26380'], sentinel_master_name: 'm' });
    assert.deepEqual(sentinels[0]?.mode === 'sentinel' && sentinels[0].sentinels, [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }]);
    assert.throws(() => shardSpecs({ sentinel_address: ['s:1'] }), /sentinel_master_name/);
  });
});
