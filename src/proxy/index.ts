/** The proxy folder's public face: clients for the application backend's hooks. */
export { HttpProxy, type HttpProxyOptions, type HttpProxyTlsOptions, type HttpStatusTransform } from './http-proxy.js';
