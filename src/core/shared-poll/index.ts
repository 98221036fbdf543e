/** Shared-poll subscriptions' engine, options and track signatures (subscriptions.md §6). */
export {
  randomEpoch,
  SharedPollEngine,
  type SharedPollEngineOptions,
  type SharedPollPublication,
  type SharedPollScheduler,
  type SharedPollSubscriber,
  type TrackBatch,
  type TrackReply,
  type TrackRequest,
} from './engine.js';
export {
  SHARED_POLL_DEFAULTS,
  sharedPollChannelConfig,
  sharedPollConcurrencyLimit,
  type SharedPollChannelConfig,
  type SharedPollMode,
  type SharedPollOptionsInput,
} from './options.js';
export { signTrack, TRACK_SIGNATURE_GRACE_SECONDS, TrackSignatureVerifier, trackKeysHash, type TrackSignatureKeys, type VerifiedTrackSignature } from './signature.js';
