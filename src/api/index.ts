/** Server API: the method executor, its HTTP binding and the pieces other bindings (GRPC, admin) reuse. */
export { ApiExecutor, type ApiReply, type ApiExecutorOptions, type ApiCallEvent, type PreparedApiCall } from './executor.js';
export { ApiEndpoint, apiHandlerOf, DEFAULT_API_MAX_BODY_BYTES, type ApiAnswer, type ApiHandlerOptions, type HeaderLookup } from './http-handler.js';
export { ApiError, ApiErrors, apiErrorHttpStatus, toApiError, type ApiErrorBody } from './errors.js';
export { RawJson, encodeJson, rawJsonFromBytes } from './raw-json.js';
export { parseLegacyCommands, runLegacyCommands, encodeLegacyReply, type LegacyCommand } from './legacy.js';
export { compileChannelGlob } from './glob.js';
export type { ApiLogger } from './method.js';
export { closeAfterAnswer, lingeringClose, LINGER_MS, LINGER_MAX_BYTES, EARLY_ANSWER_SKIP_MAX_BYTES } from './lingering-close.js';
export { addGrpcApiService, apiErrorGrpcCode, apiMethodName, apiProtoPath, loadApiProto, GRPC_API_SERVICE, PROTO_LOADER_OPTIONS, type GrpcApiOptions } from './grpc-binding.js';
