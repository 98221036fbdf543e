/**
 * Redis key and PUB/SUB channel names (server.md §6.2.2). In cluster mode the channel is wrapped in
 * a hash tag `{channel}` so every key of one channel lands in one slot and a script can touch them
 * all; without a cluster the plain Centrifugo layout is kept.
 */
export class RedisKeys {
  constructor(
    readonly prefix: string,
    readonly cluster: boolean,
  ) {}

  private tag(channel: string): string {
    return this.cluster ? `{${channel}}` : channel;
  }

  /** PUB/SUB channel carrying publications, joins and leaves of `channel`. */
  pubsub(channel: string): string {
    return `${this.prefix}.client.${this.tag(channel)}`;
  }

  /** PUB/SUB channel of control messages to every node. */
  control(): string {
    return `${this.prefix}.control`;
  }

  /** PUB/SUB channel of control messages to one node. */
  node(nodeId: string): string {
    return `${this.prefix}.node.${nodeId}`;
  }

  /** History data: a Stream, or a List when `lists` is set. */
  data(channel: string, lists: boolean): string {
    return `${this.prefix}.${lists ? 'list' : 'stream'}.${this.tag(channel)}`;
  }

  /** History meta hash: `e` epoch, `s` top offset, `v`/`ve` last version and its epoch. */
  meta(channel: string, lists: boolean): string {
    return `${this.prefix}.${lists ? 'list' : 'stream'}.meta.${this.tag(channel)}`;
  }

  /** Remembered result of an idempotent publish; with an empty key it only routes scripts to the slot. */
  result(channel: string, key: string): string {
    return `${this.prefix}.result.${this.tag(channel)}.${key}`;
  }

  /** Presence hash clientId → encoded ClientInfo. */
  presenceData(channel: string): string {
    return `${this.prefix}.presence.data.${this.tag(channel)}`;
  }

  /** Presence sorted set clientId scored by expiry time (Unix ms). */
  presenceExpire(channel: string): string {
    return `${this.prefix}.presence.expire.${this.tag(channel)}`;
  }

  /** Presence hash userId → number of entries (with `presence_user_mapping`). */
  presenceUserClients(channel: string): string {
    return `${this.prefix}.presence.user.clients.${this.tag(channel)}`;
  }
}
