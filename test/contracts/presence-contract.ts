/**
 * The PresenceManager port contract (subscriptions.md §2.1–2.2). Every presence manager runs it.
 * Channels are unique per test so external backends can share one server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PresenceManager } from '../../src/core/ports.js';
import type { ClientInfo } from '../../src/protocol/types.js';
import { bytes, text, uniqueChannel } from './contract-helpers.js';

/** Builds one presence manager; cleanup runs after it is closed. */
export type MakePresence = () => Promise<{ presence: PresenceManager; cleanup?: () => Promise<void> }>;

function withPresence(make: MakePresence, fn: (pm: PresenceManager) => Promise<void>): () => Promise<void> {
  return async () => {
    const { presence, cleanup } = await make();
    try {
      await fn(presence);
    } finally {
      await presence.close();
      await cleanup?.();
    }
  };
}

/** ClientInfo with byte fields as text, so Buffer and Uint8Array compare equal. */
function plain(info: ClientInfo | undefined): Record<string, string | undefined> | undefined {
  if (!info) return undefined;
  return { user: info.user, client: info.client, conn_info: text(info.conn_info), chan_info: text(info.chan_info) };
}

/** Registers the presence contract cases under `describe(name)`. */
export function runPresenceContract(name: string, makePresence: MakePresence): void {
  const t = (fn: (pm: PresenceManager) => Promise<void>) => withPresence(makePresence, fn);

  describe(`${name}: presence contract`, () => {
    it('an unknown channel has empty presence and zero stats', t(async (pm) => {
      const ch = uniqueChannel('p_empty');
      assert.deepEqual(await pm.presence(ch), {});
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 0, numUsers: 0 });
    }));

    it('adds an entry keyed by client id with all ClientInfo fields', t(async (pm) => {
      const ch = uniqueChannel('p_add');
      await pm.addPresence(ch, 'c1', { user: 'u1', client: 'c1', conn_info: bytes('{"a":1}'), chan_info: bytes('{"b":2}') });
      const p = await pm.presence(ch);
      assert.deepEqual(Object.keys(p), ['c1']);
      assert.deepEqual(plain(p['c1']), { user: 'u1', client: 'c1', conn_info: '{"a":1}', chan_info: '{"b":2}' });
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 1, numUsers: 1 });
    }));

    it('adding the same client again refreshes its entry without duplicating it', t(async (pm) => {
      const ch = uniqueChannel('p_refresh');
      await pm.addPresence(ch, 'c1', { user: 'u1', client: 'c1', chan_info: bytes('"old"') });
      await pm.addPresence(ch, 'c1', { user: 'u1', client: 'c1', chan_info: bytes('"new"') });
      const p = await pm.presence(ch);
      assert.equal(Object.keys(p).length, 1);
      assert.equal(text(p['c1']?.chan_info), '"new"');
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 1, numUsers: 1 });
    }));

    it('counts distinct users, the anonymous "" user as one', t(async (pm) => {
      const ch = uniqueChannel('p_users');
      await pm.addPresence(ch, 'a1', { user: '', client: 'a1' });
      await pm.addPresence(ch, 'a2', { user: '', client: 'a2' });
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 2, numUsers: 1 });
      await pm.addPresence(ch, 'c1', { user: 'u1', client: 'c1' });
      await pm.addPresence(ch, 'c2', { user: 'u1', client: 'c2' });
      await pm.addPresence(ch, 'c3', { user: 'u2', client: 'c3' });
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 5, numUsers: 3 });
      const p = await pm.presence(ch);
      assert.deepEqual(Object.keys(p).sort(), ['a1', 'a2', 'c1', 'c2', 'c3']);
      assert.equal(p['a1']?.user, '');
    }));

    it('removes entries promptly; removing the last one empties the channel', t(async (pm) => {
      const ch = uniqueChannel('p_remove');
      await pm.addPresence(ch, 'c1', { user: 'u1', client: 'c1' });
      await pm.addPresence(ch, 'c2', { user: 'u1', client: 'c2' });
      await pm.addPresence(ch, 'a1', { user: '', client: 'a1' });
      await pm.removePresence(ch, 'c1', 'u1');
      assert.deepEqual(Object.keys(await pm.presence(ch)).sort(), ['a1', 'c2']);
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 2, numUsers: 2 });
      await pm.removePresence(ch, 'c2', 'u1');
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 1, numUsers: 1 });
      await pm.removePresence(ch, 'a1', '');
      assert.deepEqual(await pm.presence(ch), {});
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 0, numUsers: 0 });
      await pm.addPresence(ch, 'c9', { user: 'u9', client: 'c9' });
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 1, numUsers: 1 }, 'the channel works again after emptying');
    }));

    it('removing an unknown client is a no-op', t(async (pm) => {
      const ch = uniqueChannel('p_remove_unknown');
      await pm.removePresence(ch, 'nobody', 'u');
      await pm.addPresence(ch, 'c1', { user: 'u1', client: 'c1' });
      await pm.removePresence(ch, 'nobody', 'u1');
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 1, numUsers: 1 });
    }));

    it('keeps channels apart', t(async (pm) => {
      const a = uniqueChannel('p_a');
      const b = uniqueChannel('p_b');
      await pm.addPresence(a, 'c1', { user: 'u1', client: 'c1' });
      await pm.addPresence(b, 'c2', { user: 'u2', client: 'c2' });
      await pm.removePresence(a, 'c2', 'u2');
      assert.deepEqual(Object.keys(await pm.presence(a)), ['c1']);
      assert.deepEqual(Object.keys(await pm.presence(b)), ['c2']);
      assert.deepEqual(await pm.presenceStats(b), { numClients: 1, numUsers: 1 });
    }));
  });
}
