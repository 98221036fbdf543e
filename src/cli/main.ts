import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { checkConfig, configDocCommand, defaultConfig, defaultEnv, genConfig } from './config-commands.js';
import { processOutput, type Output } from './output.js';
import { runServer } from './run-server.js';
import { checkToken, genSubToken, genToken } from './token-commands.js';
import { versionLine } from './version.js';

/** Root flags (server.md §1.4): [flags, key kind, description]. Keys are the dotted config paths. */
const ROOT_FLAGS: readonly (readonly [string, 'string' | 'bool' | 'int', string])[] = [
  ['--pid_file <path>', 'string', 'optional path to create PID file'],
  ['--workers <count>', 'string', 'worker processes sharing the ports: a number, or auto (0) for one per core (default: 1)'],
  ['-a, --http_server.address <address>', 'string', 'interface address to listen on'],
  ['-p, --http_server.port <port>', 'string', 'port to bind HTTP server to (default: 8000)'],
  ['--http_server.internal_address <address>', 'string', 'custom interface address to listen on for internal endpoints'],
  ['--http_server.internal_port <port>', 'string', 'custom port for internal endpoints'],
  ['--engine.type <type>', 'string', 'engine to use: memory or redis (default: memory)'],
  ['--broker.enabled [bool]', 'bool', 'enable broker'],
  ['--broker.type <type>', 'string', 'broker to use: memory, redis, nats or postgres (default: memory)'],
  ['--presence_manager.enabled [bool]', 'bool', 'enable presence manager'],
  ['--presence_manager.type <type>', 'string', 'presence manager to use: memory or redis (default: memory)'],
  ['--map_broker.type <type>', 'string', 'map broker to use: memory, redis or postgres (default: memory)'],
  ['--log.level <level>', 'string', 'set the log level: trace, debug, info, warn, error, fatal or none (default: info)'],
  ['--log.file <path>', 'string', 'optional log file - if not specified logs go to the console'],
  ['--debug.enabled [bool]', 'bool', 'enable debug endpoints'],
  ['--admin.enabled [bool]', 'bool', 'enable admin web interface'],
  ['--admin.external [bool]', 'bool', 'expose admin web interface on external port'],
  ['--admin.insecure [bool]', 'bool', 'use insecure admin mode – no auth required for admin socket'],
  ['--prometheus.enabled [bool]', 'bool', 'enable Prometheus metrics endpoint'],
  ['--swagger.enabled [bool]', 'bool', 'enable Swagger UI endpoint describing server HTTP API'],
  ['--health.enabled [bool]', 'bool', 'enable health check endpoint'],
  ['--uni_websocket.enabled [bool]', 'bool', 'enable unidirectional websocket endpoint'],
  ['--uni_sse.enabled [bool]', 'bool', 'enable unidirectional SSE (EventSource) endpoint'],
  ['--uni_http_stream.enabled [bool]', 'bool', 'enable unidirectional HTTP-streaming endpoint'],
  ['--sse.enabled [bool]', 'bool', 'enable bidirectional SSE (EventSource) endpoint (with emulation layer)'],
  ['--http_stream.enabled [bool]', 'bool', 'enable bidirectional HTTP-streaming endpoint (with emulation layer)'],
  ['--init.enabled [bool]', 'bool', 'enable connection init endpoint'],
  ['--client.insecure [bool]', 'bool', 'start in insecure client mode'],
  ['--http_api.insecure [bool]', 'bool', 'use insecure API mode'],
  ['--http_api.external [bool]', 'bool', 'expose API handler on external port'],
  ['--grpc_api.enabled [bool]', 'bool', 'enable GRPC API server'],
  ['--grpc_api.port <port>', 'int', 'port to bind GRPC API server to (default: 10000)'],
  ['--uni_grpc.enabled [bool]', 'bool', 'enable unidirectional GRPC endpoint'],
  ['--uni_grpc.port <port>', 'int', 'port to bind unidirectional GRPC server to (default: 11000)'],
];

function parseBoolFlag(value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new InvalidArgumentError('expected a boolean (true or false).');
}

function parseIntFlag(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('expected an integer.');
  return Number(value);
}

function parseTtl(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a number of seconds.');
  return Number(value);
}

function configOption(cmd: Command, description = 'path to config file'): Command {
  return cmd.option('-c, --config <path>', description, 'config.json');
}

/** Builds the command tree; `setCode` receives each action's exit code. */
function buildProgram(out: Output, setCode: (code: number) => void): Command {
  const program = new Command('gyre')
    .description('Gyre: real-time messaging server, wire-compatible with Centrifugo v6')
    .enablePositionalOptions()
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.out(s), writeErr: (s) => out.err(s) });
  program.option('-c, --config <path>', 'path to config file', 'config.json');
  const keys: string[] = [];
  for (const [flags, kind, description] of ROOT_FLAGS) {
    const option = new Option(flags, description);
    if (kind === 'bool') option.argParser(parseBoolFlag);
    if (kind === 'int') option.argParser(parseIntFlag);
    program.addOption(option);
    keys.push(option.attributeName());
  }
  program.action(async () => {
    const opts = program.opts<Record<string, unknown>>();
    const flags: Record<string, unknown> = {};
    for (const key of keys) {
      if (program.getOptionValueSource(key) === 'cli') flags[key] = opts[key];
    }
    setCode(
      await runServer(out, {
        configPath: String(opts.config),
        explicitConfig: program.getOptionValueSource('config') === 'cli',
        flags,
      }),
    );
  });

  configOption(program.command('genconfig').description('Generate minimal configuration file to start with'), 'path to output config file').action(
    (o: { config: string }) => setCode(genConfig(out, o.config)),
  );
  configOption(program.command('checkconfig').description('Check configuration file'), 'path to config file to check')
    .option('-s, --strict', 'strict check - fail on unknown fields (without it they are warnings)', false)
    .action((o: { config: string; strict: boolean }) => setCode(checkConfig(out, o.config, o.strict)));
  program
    .command('configdoc')
    .description('Show documentation of every configuration key (Markdown)')
    .option('--json', 'print a JSON array of keys with type, default, env variable and description', false)
    .action((o: { json: boolean }) => setCode(configDocCommand(out, o.json)));
  configOption(program.command('defaultconfig').description('Generate full configuration file with defaults'), 'path to default config file to generate')
    .option('-b, --base <path>', 'path to the base config file to use')
    .option('-d, --dry-run', 'dry run mode (do not write file and just print generated config to stdout)', false)
    .action((o: { config: string; base?: string; dryRun: boolean }) => setCode(defaultConfig(out, o.config, o.base, o.dryRun)));
  program
    .command('defaultenv')
    .description('Generate full environment var list with defaults')
    .option('-b, --base <path>', 'path to the base config file to use')
    .option('--base-non-zero-only', 'only output environment variables for values which were non zero in base config file', false)
    .action((o: { base?: string; baseNonZeroOnly: boolean }) => setCode(defaultEnv(out, o.base, o.baseNonZeroOnly)));
  configOption(program.command('gentoken').description('Generate sample connection JWT for user'))
    .option('-u, --user <user>', 'user ID, by default anonymous', '')
    .option('-t, --ttl <seconds>', 'token TTL in seconds, use -1 for token without expiration', parseTtl, 604800)
    .option('-q, --quiet', 'only output the token without anything else', false)
    .action(async (o: { config: string; user: string; ttl: number; quiet: boolean }) =>
      setCode(await genToken(out, { configPath: o.config, user: o.user, ttl: o.ttl, quiet: o.quiet })),
    );
  configOption(program.command('gensubtoken').description('Generate sample subscription JWT for user'))
    .option('-u, --user <user>', 'user ID', '')
    .option('-s, --channel <channel>', 'channel (required)')
    .option('-t, --ttl <seconds>', 'token TTL in seconds, use -1 for token without expiration', parseTtl, 604800)
    .option('-q, --quiet', 'only output the token without anything else', false)
    .action(async (o: { config: string; user: string; channel?: string; ttl: number; quiet: boolean }) =>
      setCode(await genSubToken(out, { configPath: o.config, user: o.user, ttl: o.ttl, quiet: o.quiet, channel: o.channel ?? '' })),
    );
  configOption(program.command('checktoken').argument('[TOKEN]', 'connection JWT to check').description('Check connection JWT')).action(
    async (token: string | undefined, o: { config: string }) => setCode(await checkToken(out, o.config, token, 'connect')),
  );
  configOption(program.command('checksubtoken').argument('[TOKEN]', 'subscription JWT to check').description('Check subscription JWT')).action(
    async (token: string | undefined, o: { config: string }) => setCode(await checkToken(out, o.config, token, 'subscribe')),
  );
  program
    .command('version')
    .description('Gyre version information')
    .action(() => {
      out.out(`${versionLine()}\n`);
      setCode(0);
    });
  return program;
}

/**
 * CLI entry point: parses `argv` (without node and script) and runs the root command (the
 * server) or a tool sub-command. Resolves with the process exit code; the root command
 * resolves only after the server has shut down.
 */
export async function main(argv: string[], out: Output = processOutput): Promise<number> {
  let code = 0;
  const program = buildProgram(out, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
  return code;
}
