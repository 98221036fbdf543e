import { REDIS_CONNECTION, tls } from './schema-blocks.js';
import { bool, dur, int, obj, str, strs, type Fields } from './schema-dsl.js';

/** Consumer types Centrifugo knows. */
export const CONSUMER_TYPES = [
  'postgresql',
  'kafka',
  'nats_jetstream',
  'redis_stream',
  'google_pub_sub',
  'aws_sqs',
  'azure_service_bus',
] as const;

/** Regex for consumer names. */
export const CONSUMER_NAME_PATTERN = /^[a-zA-Z0-9_]{2,}$/;

function dataMode(suffix: 'header' | 'value' | 'attribute' | 'property', prefixKey: string): Fields {
  return {
    enabled: bool('Treat messages as publication data rather than API commands.'),
    [`channels_${suffix}`]: str('Where the comma-separated target channels are.', 'centrifugo-channels'),
    [`idempotency_key_${suffix}`]: str('Where the idempotency key is.', 'centrifugo-idempotency-key'),
    [`delta_${suffix}`]: str('Where the delta flag is.', 'centrifugo-delta'),
    [`version_${suffix}`]: str('Where the publication version is.', 'centrifugo-version'),
    [`version_epoch_${suffix}`]: str('Where the version epoch is.', 'centrifugo-version-epoch'),
    [prefixKey]: str('Prefix of the names carrying publication tags.', 'centrifugo-tag-'),
  };
}

/** One item of `consumers`. */
export const CONSUMER: Fields = {
  name: str('Unique consumer name (^[a-zA-Z0-9_]{2,}$).'),
  enabled: bool('Start this consumer.'),
  type: str('postgresql, kafka, nats_jetstream, redis_stream, google_pub_sub, aws_sqs or azure_service_bus.'),
  postgresql: obj('PostgreSQL outbox consumer.', {
    dsn: str('Connection string (required).'),
    outbox_table_name: str('Outbox table to poll (required).'),
    num_partitions: int('Partitions polled in parallel.', 1),
    partition_select_limit: int('Rows per poll.', 100),
    partition_poll_interval: dur('Idle poll period.', '300ms'),
    partition_notification_channel: str('LISTEN channel for immediate polls.'),
    partition_notification_dsn: str('Separate DSN for LISTEN.'),
    tls: tls('TLS for PostgreSQL.'),
    use_try_lock: bool('Skip busy partitions (pg_try_advisory_xact_lock).'),
  }),
  kafka: obj('Kafka consumer.', {
    brokers: strs('Seed brokers (required).'),
    topics: strs('Topics (required).'),
    consumer_group: str('Consumer group ID (required).'),
    max_poll_records: int('Records per poll.', 100),
    fetch_max_bytes: int('Max bytes per fetch (0 = client default).'),
    fetch_max_wait: dur('Max fetch wait.', '500ms'),
    fetch_read_uncommitted: bool('Read uncommitted records.'),
    partition_queue_max_size: int('Per-partition in-flight cap before pausing (-1 = pause every poll).', 1000),
    dial_timeout: dur('Broker dial timeout.', '3s'),
    tls: tls('TLS to Kafka.'),
    sasl_mechanism: str('plain, scram-sha-256, scram-sha-512 or aws-msk-iam.'),
    sasl_user: str('SASL user.'),
    sasl_password: str('SASL password.'),
    assume_role_arn: str('MSK IAM role to assume (requires aws-msk-iam).'),
    instance_id: str('Static group membership ID.'),
    method_header: str('Header holding the API method.', 'centrifugo-method'),
    publication_data_mode: obj('Publication data mode.', dataMode('header', 'tags_header_prefix')),
  }),
  nats_jetstream: obj('NATS JetStream consumer.', {
    url: str('NATS URL.', 'nats://127.0.0.1:4222'),
    credentials_file: str('Credentials file.'),
    username: str('User name.'),
    password: str('Password.'),
    token: str('Auth token.'),
    stream_name: str('Stream name (required).'),
    use_existing_consumer: bool('Attach to an existing durable consumer.'),
    subjects: strs('Filter subjects.'),
    durable_consumer_name: str('Durable consumer name (required).'),
    deliver_policy: str('new or all.', 'new'),
    max_ack_pending: int('Max unacknowledged messages.', 100),
    method_header: str('Header holding the API method.', 'centrifugo-method'),
    publication_data_mode: obj('Publication data mode.', dataMode('header', 'tags_header_prefix')),
    tls: tls('TLS to NATS.'),
  }),
  redis_stream: obj('Redis Streams consumer.', {
    ...REDIS_CONNECTION,
    streams: strs('Stream keys (required).'),
    consumer_group: str('Consumer group (required).'),
    visibility_timeout: dur('Idle time after which pending messages are re-claimed.', '30s'),
    num_workers: int('Workers per stream.', 1),
    payload_value: str('Field holding the payload.', 'payload'),
    method_value: str('Field holding the method.', 'method'),
    publication_data_mode: obj('Publication data mode.', dataMode('value', 'tags_value_prefix')),
  }),
  google_pub_sub: obj('Google Pub/Sub consumer.', {
    project_id: str('Project ID (required).'),
    subscriptions: strs('Subscription IDs (required).'),
    max_outstanding_messages: int('Max unacknowledged messages.', 100),
    max_outstanding_bytes: int('Max unacknowledged bytes.', 1000000),
    auth_mechanism: str('default (ADC) or service_account.'),
    credentials_file: str('Service account JSON file.'),
    method_attribute: str('Attribute holding the API method.', 'centrifugo-method'),
    publication_data_mode: obj('Publication data mode.', dataMode('attribute', 'tags_attribute_prefix')),
  }),
  aws_sqs: obj('AWS SQS consumer.', {
    queues: strs('Queue URLs (required).'),
    sns_envelope: bool('Bodies are SNS envelopes.'),
    region: str('AWS region.'),
    max_number_of_messages: int('Messages per receive.', 10),
    wait_time_time: dur('Long-poll wait.', '20s'),
    visibility_timeout: dur('Visibility timeout.', '30s'),
    max_concurrency: int('Parallel processing within a batch.', 1),
    credentials_profile: str('Shared credentials profile.'),
    assume_role_arn: str('IAM role to assume.'),
    method_attribute: str('Attribute holding the API method.', 'centrifugo-method'),
    localstack_endpoint: str('LocalStack endpoint URL.'),
    publication_data_mode: obj('Publication data mode.', dataMode('attribute', 'tags_attribute_prefix')),
  }),
  azure_service_bus: obj('Azure Service Bus consumer.', {
    connection_string: str('Connection string (required unless use_azure_identity).'),
    use_azure_identity: bool('Authenticate with Azure identity.'),
    fully_qualified_namespace: str('Namespace host (azure identity).'),
    tenant_id: str('Tenant ID (azure identity).'),
    client_id: str('Client ID (azure identity).'),
    client_secret: str('Client secret (azure identity).'),
    queues: strs('Queues (required).'),
    use_sessions: bool('Session-aware, in-order per session.'),
    max_concurrent_calls: int('Messages processed concurrently per queue.', 1),
    max_receive_messages: int('Messages per receive.', 1),
    method_property: str('Property holding the API method.', 'centrifugo-method'),
    publication_data_mode: obj('Publication data mode.', dataMode('property', 'tags_property_prefix')),
  }),
};
