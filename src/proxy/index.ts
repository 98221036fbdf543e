/** The proxy folder's public face: clients for the application backend's hooks. */
export { HttpProxy, type HttpProxyOptions, type HttpProxyTlsOptions, type HttpStatusTransform } from './http-proxy.js';
export {
  GrpcProxy,
  type GrpcProxyOptions,
  type GrpcProxyTlsOptions,
  grpcTarget,
  PROXY_PROTO_LOADER_OPTIONS,
  PROXY_PROTO_PATH,
} from './grpc-proxy.js';
