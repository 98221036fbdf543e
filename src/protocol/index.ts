/**
 * Public face of the wire layer: protocol message types, frozen code tables, and the codecs
 * (JSON, Protobuf) with the standalone body helpers transports need. Pure: no I/O.
 */
export * from './types.js';
export * from './codes.js';
export { type Codec, CodecError, codecFor, jsonCodec, protobufCodec } from './codec.js';
export { decodeConnectRequestJson, decodeEmulationRequestJson, encodeEmulationRequestJson } from './json-codec.js';
export {
  decodeConnectRequestMessage,
  decodeEmulationRequest,
  encodeEmulationRequest,
  encodePushMessage,
} from './protobuf-codec.js';
export { applyDelta, createDelta, fossilChecksum, FossilDeltaError, type FossilDeltaErrorCode, DEFAULT_MAX_DELTA_OUTPUT_BYTES } from './fossil-delta.js';
export {
  compareDecimalText,
  compileFilter,
  FILTER_DECODE_LIMITS,
  FILTER_ERROR_CODE,
  FILTER_LIMITS,
  FilterValidationError,
  type TagsPredicate,
  validateFilter,
} from './tag-filter.js';
export { isMapSubscribeType, type SubscribeType, SubscribeTypes } from './subscribe-types.js';
