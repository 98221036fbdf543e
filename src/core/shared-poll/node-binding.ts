/**
 * The node's shared-poll engine built from configuration: the top-level `shared_poll` keys
 * (signature keys, concurrency limit), the node's timer wheel and clock, and each channel's
 * backend looked up through the proxy bindings by namespace. Namespace options are resolved
 * once per options object.
 */
import type { ChannelOptions } from '../channel-options.js';
import type { ChannelResolver } from '../channels.js';
import type { SharedPollRules } from '../options.js';
import type { Clock, Logger } from '../ports.js';
import type { ProxyBindings } from '../proxy-ports.js';
import { SharedPollEngine, type SharedPollScheduler } from './engine.js';
import { sharedPollChannelConfig, sharedPollConcurrencyLimit, type SharedPollChannelConfig } from './options.js';
import { TrackSignatureVerifier } from './signature.js';

export interface SharedPollNodeDeps {
  rules: SharedPollRules | undefined;
  resolver: ChannelResolver;
  proxies: ProxyBindings;
  scheduler: SharedPollScheduler;
  clock: Clock;
  logger: Logger;
}

/** The engine plus the per-namespace config cache the subscription kind and the API use. */
export class SharedPollNode {
  readonly engine: SharedPollEngine;
  private readonly configs = new WeakMap<ChannelOptions, SharedPollChannelConfig>();

  constructor(deps: SharedPollNodeDeps) {
    const r = deps.rules ?? {};
    const verifier = new TrackSignatureVerifier({
      secret: r.hmac_secret_key ?? '',
      previousSecret: r.hmac_previous_secret_key ?? '',
      previousValidUntil: r.hmac_previous_secret_key_valid_until ?? 0,
    });
    this.engine = new SharedPollEngine({
      clock: deps.clock,
      scheduler: deps.scheduler,
      verifier,
      logger: deps.logger,
      concurrencyLimit: sharedPollConcurrencyLimit(r.concurrency_limit),
      proxy: (channel) => {
        const resolved = deps.resolver.resolve(channel);
        return resolved ? deps.proxies.sharedPollRefresh?.(resolved.namespace) : undefined;
      },
    });
  }

  /** The engine's view of a namespace's `shared_poll` options. */
  config(options: ChannelOptions): SharedPollChannelConfig {
    let c = this.configs.get(options);
    if (c === undefined) {
      c = sharedPollChannelConfig(options.shared_poll ?? {});
      this.configs.set(options, c);
    }
    return c;
  }

  close(): void {
    this.engine.close();
  }
}
