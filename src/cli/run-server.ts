import cluster from 'node:cluster';
import { unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import type pino from 'pino';
import {
  ConfigError,
  configProblems,
  connectionAuthWarning,
  loadConfig,
  notSupportedWarnings,
  workerCount,
  type GyreConfig,
  type LoadedConfig,
} from '../config/index.js';
import type { ServerOptions } from '../server/index.js';
import { formatConfigErrors } from './config-commands.js';
import { createLogger } from './logger.js';
import { errorMessage, type Output } from './output.js';
import { gyreVersion } from './version.js';
import { WorkerChannel } from './worker-channel.js';
import { workerNodeName, workerSlotFromEnv, type WorkerSlotInfo } from './worker-messages.js';

/** Options of the root command. */
export interface RunServerOptions {
  configPath: string;
  explicitConfig: boolean;
  /** Dotted keys explicitly given on the command line. */
  flags: Record<string, unknown>;
}

function logStartup(logger: pino.Logger, loaded: LoadedConfig, workers: number): void {
  const { config } = loaded;
  logger.info(
    {
      version: gyreVersion(),
      runtime: process.version,
      pid: process.pid,
      ...(workers > 1 ? { workers } : {}),
      ...(config.broker.enabled || config.presence_manager.enabled
        ? { broker: config.broker.enabled ? config.broker.type : config.engine.type, presence_manager: config.presence_manager.enabled ? config.presence_manager.type : config.engine.type }
        : { engine: config.engine.type }),
    },
    'starting Gyre',
  );
  if (loaded.envFile !== undefined) logger.info({ path: loaded.envFile }, 'loaded environment from .env file');
  if (loaded.fileFound) logger.info({ path: loaded.path }, 'using config file');
  for (const w of loaded.warnings) logger.warn(w);
  for (const u of loaded.unknownKeyDetails) {
    logger.warn({ key: u.path, ...(u.hint === undefined ? {} : { hint: u.hint }), ...u.position }, 'unknown key in configuration file');
  }
  for (const name of loaded.unknownEnv) logger.warn({ var: name }, 'unknown var in environment');
  for (const w of notSupportedWarnings(config)) logger.warn(w);
  const auth = connectionAuthWarning(config);
  if (auth !== undefined) logger.warn(`NO CLIENT CAN CONNECT: ${auth}`);
}

/** What the root command needs of the running server. */
interface ReloadableServer {
  close(reason?: string): Promise<void>;
  reload(next: LoadedConfig['config']): Promise<{ applied: string[]; restartNeeded: string[] }>;
}

/** A worker's configuration: the loaded one under the worker's own node name. */
type ConfigView = (config: GyreConfig) => GyreConfig;
const asLoaded: ConfigView = (config) => config;

/**
 * SIGHUP: re-reads file, env and flags as at start and validates them. A valid configuration
 * swaps in its token verifiers and namespace options; any other change is logged as needing a
 * restart. An invalid one is logged at ERROR and the running configuration stays.
 */
async function reloadConfig(server: ReloadableServer, opts: RunServerOptions, logger: pino.Logger, view: ConfigView): Promise<void> {
  logger.info({ signal: 'SIGHUP' }, 'reloading configuration');
  let outcome: { applied: string[]; restartNeeded: string[] };
  try {
    const loaded = loadConfig({ configPath: opts.configPath, explicitConfig: opts.explicitConfig, flags: opts.flags });
    for (const key of loaded.unknownKeys) logger.warn({ key }, 'unknown key in configuration file');
    outcome = await server.reload(view(loaded.config));
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : errorMessage(err);
    logger.error({ error: message }, 'error reloading configuration, keeping the current one');
    return;
  }
  for (const path of outcome.restartNeeded) logger.warn({ path }, 'configuration change ignored until restart');
  logger.info({ applied: outcome.applied }, 'configuration reloaded');
}

function removePidFile(path: string): void {
  if (path === '') return;
  try {
    unlinkSync(path);
  } catch {
    // Already gone: nothing to clean up.
  }
}

/**
 * The root command: load and validate config (printing `error validating config: …` and
 * returning 1 before anything starts), create the logger, start the server, and run until
 * SIGINT/SIGTERM, then close gracefully (exit 0) or hard-exit 1 after `shutdown.timeout`.
 * With `workers` above 1 this process becomes the supervisor of that many worker processes
 * (supervisor.ts); a worker process runs here too, as a server under its supervisor.
 */
export async function runServer(out: Output, opts: RunServerOptions): Promise<number> {
  const slot = cluster.isWorker ? workerSlotFromEnv() : undefined;
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ configPath: opts.configPath, explicitConfig: opts.explicitConfig, flags: opts.flags });
  } catch (err) {
    out.err(err instanceof ConfigError ? formatConfigErrors(configProblems(err)) : `error validating config: ${errorMessage(err)}\n`);
    return slot === undefined ? 1 : exitWorker(1);
  }
  const { config } = loaded;
  const logger = createLogger({ level: config.log.level, file: config.log.file });
  if (slot !== undefined) return runWorker(opts, config, logger.child({ worker: slot.index }), slot);

  const workers = workerCount(config.workers, availableParallelism());
  logStartup(logger, loaded, workers);
  const pidFile = config.pid_file;
  if (pidFile !== '') {
    try {
      writeFileSync(pidFile, `${process.pid}\n`);
    } catch (err) {
      logger.fatal({ path: pidFile, error: errorMessage(err) }, 'error writing PID file');
      return 1;
    }
  }
  if (workers > 1) {
    const { Supervisor } = await import('./supervisor.js');
    const code = await new Supervisor({ workers, shutdownTimeoutMs: config.shutdown.timeout, logger }).run();
    removePidFile(pidFile);
    // Nothing of the supervisor should linger: its workers are gone.
    setTimeout(() => process.exit(code), 100).unref();
    return code;
  }

  let server: ReloadableServer;
  try {
    const mod = await import('../server/index.js');
    server = await mod.startServer(config, { logger });
  } catch (err) {
    logger.fatal({ error: errorMessage(err) }, 'error starting server');
    removePidFile(pidFile);
    return 1;
  }
  return serveUntilSignal(server, { opts, config, logger, pidFile, view: asLoaded });
}

/**
 * A worker process of `gyre --workers`: the server under the node name `<name>-w<index>`,
 * reporting to its supervisor over IPC. It shuts down like a single process on SIGTERM/SIGINT
 * (forwarded by the supervisor).
 */
async function runWorker(opts: RunServerOptions, loadedConfig: GyreConfig, logger: pino.Logger, slot: WorkerSlotInfo): Promise<number> {
  const view: ConfigView = (c) => ({ ...c, node: { ...c.node, name: workerNodeName(c.node.name || hostname(), slot.index) } });
  const config = view(loadedConfig);
  const channel = new WorkerChannel(slot);
  // A worker whose supervisor is gone is ended by node:cluster (exit 0 on the IPC disconnect);
  // until then a message to it fails with EPIPE, which must not throw as an unhandled 'error'.
  cluster.worker?.on('error', (err: Error) => logger.debug({ error: err.message }, 'supervisor channel error'));
  let server: ReloadableServer;
  try {
    const mod = await import('../server/index.js');
    const serverOpts: ServerOptions = { logger, workerLink: channel };
    const started = await mod.startServer(config, serverOpts);
    const metrics = started.ops.metrics;
    channel.serveMetrics(metrics ? () => metrics.json() : undefined);
    server = started;
  } catch (err) {
    logger.fatal({ error: errorMessage(err) }, 'error starting server');
    channel.close();
    return exitWorker(1);
  }
  channel.ready(config.node.name);
  return serveUntilSignal(server, {
    opts,
    config,
    logger,
    pidFile: '',
    view,
    afterClose: () => {
      channel.close();
      // node:cluster ends a worker whose channel closes with exit code 0: nothing lingers.
      if (process.connected) process.disconnect();
    },
  });
}

/**
 * Ends a worker that could not start: its open connections (a broker that did connect) must
 * not keep it alive, and its supervisor counts the exit.
 */
function exitWorker(code: number): number {
  process.exit(code);
}

interface ServeOptions {
  opts: RunServerOptions;
  config: GyreConfig;
  logger: pino.Logger;
  pidFile: string;
  /** Applied to a reloaded configuration before the server sees it. */
  view: ConfigView;
  /** Runs after a graceful close (a worker lets go of its IPC channel). */
  afterClose?: () => void;
}

/** Runs until SIGINT/SIGTERM, then closes gracefully (0) or hard-exits 1 after `shutdown.timeout`. */
function serveUntilSignal(server: ReloadableServer, s: ServeOptions): Promise<number> {
  const { logger, pidFile, config } = s;
  return new Promise<number>((resolveExit) => {
    let shuttingDown = false;
    const shutdown = (signal: string): void => {
      if (shuttingDown) {
        logger.info({ signal }, 'shutdown already in progress');
        return;
      }
      shuttingDown = true;
      logger.info({ signal }, 'shutting down ...');
      const hard = setTimeout(() => {
        logger.error('shutdown timeout reached');
        removePidFile(pidFile);
        process.exit(1);
      }, Math.max(0, config.shutdown.timeout));
      server.close('shutdown').then(
        () => {
          clearTimeout(hard);
          removePidFile(pidFile);
          logger.info('shutdown completed');
          s.afterClose?.();
          // The signal handlers stay: a repeated SIGTERM/SIGINT while the loop drains is ignored
          // rather than killing the process with a signal status.
          // Give the event loop a moment to drain; a lingering handle must not keep us alive.
          setTimeout(() => process.exit(0), 1000).unref();
          resolveExit(0);
        },
        (err: unknown) => {
          clearTimeout(hard);
          logger.error({ error: errorMessage(err) }, 'error during shutdown');
          removePidFile(pidFile);
          s.afterClose?.();
          resolveExit(1);
        },
      );
    };
    const onInt = (): void => shutdown('SIGINT');
    const onTerm = (): void => shutdown('SIGTERM');
    // Reloads run one after another: a burst of SIGHUPs applies the last file state in order.
    let reloads = Promise.resolve();
    const onHup = (): void => {
      if (shuttingDown) return;
      reloads = reloads.then(() => reloadConfig(server, s.opts, logger, s.view));
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onHup);
  });
}
