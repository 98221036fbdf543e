/**
 * Per-namespace channel options, in the configuration's own snake_case shape.
 * Durations are milliseconds. Zero or absent means off / the global default.
 */
import type { ChannelMapOptions } from './map-api.js';
import type { SharedPollOptionsInput } from './shared-poll/options.js';

export interface ChannelOptions {
  presence?: boolean;
  join_leave?: boolean;
  force_push_join_leave?: boolean;
  history_size?: number;
  history_ttl?: number;
  history_meta_ttl?: number;
  force_positioning?: boolean;
  allow_positioning?: boolean;
  force_recovery?: boolean;
  allow_recovery?: boolean;
  force_recovery_mode?: string;
  auto_cache_recover?: boolean;
  allowed_delta_types?: string[];
  allow_tags_filter?: boolean;
  delta_publish?: boolean;
  allow_subscribe_for_client?: boolean;
  allow_subscribe_for_anonymous?: boolean;
  allow_publish_for_client?: boolean;
  allow_publish_for_subscriber?: boolean;
  allow_publish_for_anonymous?: boolean;
  allow_presence_for_client?: boolean;
  allow_presence_for_subscriber?: boolean;
  allow_presence_for_anonymous?: boolean;
  allow_history_for_client?: boolean;
  allow_history_for_subscriber?: boolean;
  allow_history_for_anonymous?: boolean;
  allow_user_limited_channels?: boolean;
  channel_regex?: string;
  publication_data_format?: string;
  subscription_type?: string;
  /** Map subscription options (`subscription_type` map, map_clients, map_users). */
  map?: ChannelMapOptions;
  /** Subscribers are written into the map_clients channel `<prefix><channel>` (subscriptions.md §5.9). */
  map_clients_presence_channel_prefix?: string;
  /** Subscribers' users are written into the map_users channel `<prefix><channel>`. */
  map_users_presence_channel_prefix?: string;
  /** Shared-poll options (`subscription_type` shared_poll; durations in ms, 0 = default). */
  shared_poll?: SharedPollOptionsInput & { proxy_name?: string };
}

/** A namespace: a name plus its channel options. */
export interface NamespaceOptions extends ChannelOptions {
  name: string;
}
