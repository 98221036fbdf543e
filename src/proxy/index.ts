/** The proxy folder's public face: clients for the application backend's hooks. */
export { HttpProxy, type HttpProxyOptions, type HttpProxyTlsOptions, type HttpStatusTransform } from './http-proxy.js';
export { EventSink, type BatchSender, type EventSinkOptions } from './event-sink.js';
export { HttpEventPoster, type HttpEventPosterOptions } from './http-event-poster.js';
export { GrpcEventSender, type GrpcEventKind, type GrpcEventSenderOptions } from './grpc-event-sender.js';
export {
  GrpcProxy,
  type GrpcProxyOptions,
  type GrpcProxyTlsOptions,
  grpcTarget,
  PROXY_PROTO_LOADER_OPTIONS,
  PROXY_PROTO_PATH,
} from './grpc-proxy.js';
