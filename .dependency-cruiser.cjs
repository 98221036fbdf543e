/** Import rules from ARCHITECTURE.md: imports point inward, toward core. */
const folder = (name) => `^src/${name}/`;
const forbid = (name, from, to, comment) => ({ name, severity: 'error', comment, from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true, viaOnly: { pathNot: [] } } },
    forbid('protocol-is-pure', folder('protocol'), '^src/(?!protocol/)', 'protocol imports nothing else in src'),
    forbid('core-stays-inward', folder('core'), '^src/(?!core/|protocol/)', 'core imports only protocol'),
    forbid('core-no-io-packages', folder('core'), '(^|/)node_modules/(ws|ioredis|redis|nats|pg|jose|pino|prom-client|@opentelemetry)/|^(node:)?http$', 'core stays free of I/O and infrastructure packages'),
    forbid('brokers-inward', folder('brokers'), '^src/(?!brokers/|core/|protocol/)', 'brokers see core ports and protocol only'),
    forbid('transports-inward', folder('transports'), '^src/(brokers|api|config|auth|proxy|server|cli)/', 'transports see core and protocol only'),
    forbid('auth-inward', folder('auth'), '^src/(transports|brokers|api|config|server|cli)/', 'auth sees core ports only'),
    forbid('api-inward', folder('api'), '^src/(transports|brokers|config|auth|server|cli)/', 'api sees core and protocol only'),
    forbid('metrics-inward', folder('metrics'), '^src/(brokers|transports|config|auth|proxy|server|cli|admin)/', 'metrics see core events and the api only'),
    forbid('admin-inward', folder('admin'), '^src/(brokers|transports|config|auth|proxy|server|cli|metrics)/', 'admin sees core events and the api only'),
    forbid('consumers-inward', folder('consumers'), '^src/(brokers|transports|config|auth|proxy|server|cli|metrics|admin)/', 'consumers see core and the api only'),
    forbid('config-is-data', folder('config'), '^src/(?!config/)', 'config imports nothing else in src'),
    forbid('server-not-cli', folder('server'), folder('cli'), 'the composition root does not depend on the CLI'),
    {
      name: 'core-through-its-index',
      severity: 'error',
      comment: 'other folders use core through its public face, src/core/index.ts',
      from: { path: '^src/(?!core/)', pathNot: '(\\.test|test-helper)\\.ts$' },
      to: { path: '^src/core/(?!index\\.ts$)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
