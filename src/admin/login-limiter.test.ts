import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginLimiter, addressKey } from './login-limiter.js';

describe('LoginLimiter', () => {
  it('refuses after maxFailures in a window, until the window ends; success clears', () => {
    const clock = { ms: 1_000_000 };
    const l = new LoginLimiter({ maxFailures: 3, windowMs: 60_000, now: () => clock.ms });
    assert.equal(l.retryAfterSeconds('10.0.0.1'), 0);
    assert.deepEqual([l.failed('10.0.0.1'), l.failed('10.0.0.1'), l.failed('10.0.0.1')], [false, false, true]);
    assert.equal(l.retryAfterSeconds('10.0.0.1'), 60);
    assert.equal(l.retryAfterSeconds('10.0.0.2'), 0);
    clock.ms += 59_500;
    assert.equal(l.retryAfterSeconds('10.0.0.1'), 1);
    clock.ms += 500;
    assert.equal(l.retryAfterSeconds('10.0.0.1'), 0);
    l.failed('10.0.0.2');
    l.failed('10.0.0.2');
    l.succeeded('10.0.0.2');
    l.failed('10.0.0.2');
    l.failed('10.0.0.2');
    assert.equal(l.retryAfterSeconds('10.0.0.2'), 0);
  });

  it('tracks at most maxAddresses, dropping ended windows and then the oldest', () => {
    const clock = { ms: 0 };
    const l = new LoginLimiter({ maxFailures: 1, windowMs: 1000, maxAddresses: 100, now: () => clock.ms });
    for (let i = 0; i < 100_000; i++) {
      l.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      if (i % 1000 === 0) clock.ms += 10;
    }
    assert.equal(l.size, 100);
    // The newest addresses are still refused.
    assert.ok(l.retryAfterSeconds('10.1.134.159') > 0);
  });

  it('keys IPv6 by /64 and IPv4-mapped addresses as IPv4', () => {
    assert.equal(addressKey('127.0.0.1'), '127.0.0.1');
    assert.equal(addressKey('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});
