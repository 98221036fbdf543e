/**
 * `shared_poll_publish` (server.md §4.6): a new version of one key of a versioned shared-poll
 * channel, pushed at once to the subscribers tracking it with an older version. `channel`,
 * `key` and a positive `version` are required (107); the namespace must be shared_poll (107)
 * with publish_enabled (108). Result `{}`.
 */
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { raw, requestObject, str, int, UINT64 } from '../decode.js';
import { payload, requireChannel } from './common.js';

interface SharedPollPublishRequest {
  channel: string;
  key: string;
  version: number;
  data: Uint8Array | undefined;
  b64data: string;
  epoch: string;
}

export const sharedPollPublish: ApiMethod<SharedPollPublishRequest> = {
  name: 'shared_poll_publish',
  decode(params) {
    const o = requestObject(params);
    return {
      channel: str(o, 'channel'),
      key: str(o, 'key'),
      version: int(o, 'version', UINT64),
      data: raw(o, 'data'),
      b64data: str(o, 'b64data'),
      epoch: str(o, 'epoch'),
    };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    if (req.key === '' || req.version <= 0) throw ApiErrors.badRequest;
    await ctx.node.sharedPollPublish({ channel: req.channel, key: req.key, version: req.version, data: payload(req.data, req.b64data), epoch: req.epoch });
    return {};
  },
};
