/** The composition root's public face: build and run Gyre from a loaded configuration. */
import { GyreServer, type ServerConfig, type ServerOptions } from './server.js';

export { GyreServer, type ServerConfig, type ServerOptions } from './server.js';
export { gyreVersion } from './version.js';
export type { WorkerLink } from './worker-link.js';

/** Starts a server that listens on the configured ports; close() shuts it down gracefully. */
export async function startServer(config: ServerConfig, opts: ServerOptions = {}): Promise<GyreServer> {
  const server = new GyreServer(config, opts);
  await server.listen();
  return server;
}
