/**
 * Redis key and PUB/SUB names of the map broker. Every key of one channel carries the channel as a
 * hash tag `{channel}` in cluster mode, so one script can touch them all; the cleanup registration is
 * one sorted set per shard, outside any channel's slot.
 */
export class RedisMapKeys {
  constructor(
    readonly prefix: string,
    readonly cluster: boolean,
  ) {}

  private tag(channel: string): string {
    return this.cluster ? `{${channel}}` : channel;
  }

  /**
   * The channel's keys in the order every map script takes them: meta hash (`e` epoch, `s` top,
   * `ss`/`st` stream size and ttl), change stream, state hash (key → `offset:tagsLen:tags body`),
   * key order zset (score 0, lexicographic), key expiry zset (score = expiry, Redis ms), version hash.
   */
  channelKeys(channel: string): string[] {
    const t = this.tag(channel);
    const p = `${this.prefix}.map`;
    return [`${p}.meta.${t}`, `${p}.stream.${t}`, `${p}.state.${t}`, `${p}.keys.${t}`, `${p}.expire.${t}`, `${p}.version.${t}`];
  }

  /** Remembered result of an idempotent write (`e` epoch, `s` offset). */
  result(channel: string, key: string): string {
    return `${this.prefix}.map.result.${this.tag(channel)}.${key}`;
  }

  /** PUB/SUB channel of live changes of `channel`. */
  pubsub(channel: string): string {
    return `${this.prefix}.map.pub.${this.tag(channel)}`;
  }

  /** The channel name inside a PUB/SUB channel name made by pubsub(). */
  channelOf(pubsubName: string): string {
    const rest = pubsubName.slice(`${this.prefix}.map.pub.`.length);
    return this.cluster ? rest.slice(1, -1) : rest;
  }

  /** Sorted set channel → earliest key expiry (Redis ms) of channels whose keys carry a TTL. */
  cleanup(): string {
    return `${this.prefix}.map.cleanup`;
  }
}
