/**
 * Values of `SubscribeRequest.type` (protocol.md, subscriptions.md §0.2): which flow a
 * subscribe command takes. The namespace's `subscription_type` must match the request's type.
 * `SubscribeResult.type` is not an echo: it is 1 for every map type and 4 for shared poll.
 */
export const SubscribeTypes = Object.freeze({
  /** Classic publish/subscribe with optional history; the default when `type` is absent. */
  stream: 0,
  /** Keyed state: STATE and STREAM pages, then live (§5). */
  map: 1,
  /** Map of the channel's connections (map presence, §5.9). */
  mapClients: 2,
  /** Map of the channel's users (map presence, §5.9). */
  mapUsers: 3,
  /** Keys polled from the application backend, tracked with sub_refresh (§6). */
  sharedPoll: 4,
} as const);

/** One of the subscribe request types Gyre knows; other numbers are refused like a type mismatch. */
export type SubscribeType = (typeof SubscribeTypes)[keyof typeof SubscribeTypes];

/** True for the three map flows (map, map_clients, map_users), which share one subscribe sequence. */
export function isMapSubscribeType(type: number): boolean {
  return type === SubscribeTypes.map || type === SubscribeTypes.mapClients || type === SubscribeTypes.mapUsers;
}
