import type { PresenceManager, PresenceStats } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';
import { BrokerError } from '../errors.js';

/** One channel's presence: entries by client id and how many entries each user has. */
interface ChannelPresence {
  clients: Map<string, ClientInfo>;
  users: Map<string, number>;
}

/**
 * Single-node presence kept in process memory (subscriptions.md §2.1): entries live until removed
 * (no TTL). Stats are O(1): a per-channel count of entries per user is kept alongside the entries.
 * Empty channels are forgotten at once.
 */
export class MemoryPresenceManager implements PresenceManager {
  private readonly channels = new Map<string, ChannelPresence>();
  private closed = false;

  /** A fresh record of the channel's entries keyed by client id; `{}` when nobody is present. */
  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    this.ensureOpen();
    const result: Record<string, ClientInfo> = {};
    const entry = this.channels.get(channel);
    if (entry) for (const [clientId, info] of entry.clients) result[clientId] = info;
    return result;
  }

  /** Entry count and distinct users (the anonymous "" user counts as one). */
  async presenceStats(channel: string): Promise<PresenceStats> {
    this.ensureOpen();
    const entry = this.channels.get(channel);
    return entry ? { numClients: entry.clients.size, numUsers: entry.users.size } : { numClients: 0, numUsers: 0 };
  }

  /** Adds or replaces the client's entry; a refresh that changes the user moves its count. */
  async addPresence(channel: string, clientId: string, info: ClientInfo): Promise<void> {
    this.ensureOpen();
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { clients: new Map(), users: new Map() };
      this.channels.set(channel, entry);
    }
    const previous = entry.clients.get(clientId);
    if (previous) decrement(entry.users, previous.user);
    entry.clients.set(clientId, { ...info });
    entry.users.set(info.user, (entry.users.get(info.user) ?? 0) + 1);
  }

  /** Removes the client's entry if present; the stored entry's user is authoritative over `userId`. */
  async removePresence(channel: string, clientId: string, _userId: string): Promise<void> {
    this.ensureOpen();
    const entry = this.channels.get(channel);
    const previous = entry?.clients.get(clientId);
    if (!entry || !previous) return;
    entry.clients.delete(clientId);
    decrement(entry.users, previous.user);
    if (entry.clients.size === 0) this.channels.delete(channel);
  }

  /** Forgets every entry; later calls reject with code `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'memory presence manager is closed');
  }
}

function decrement(users: Map<string, number>, user: string): void {
  const n = (users.get(user) ?? 0) - 1;
  if (n > 0) users.set(user, n);
  else users.delete(user);
}
