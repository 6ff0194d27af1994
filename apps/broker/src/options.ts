/**
 * The table of every `culex` option: its flag, `CULEX_*` environment variable, config-file
 * key, type, range and default. Parsing (config.ts), `--help` (help.ts) and the README are
 * all driven by this one table, so they cannot drift apart.
 */
import type { BridgeSpec } from './bridge-config.ts'

/** How a raw value is checked and converted. */
export type OptionKind = 'int' | 'string' | 'bool' | 'path' | 'store'

/** One option of the app. */
export interface OptionSpec {
  /** camelCase key: the config-file key and the property of {@link Config}. */
  readonly key: keyof OptionValues
  /** Long flag without the leading dashes (kebab-case). */
  readonly flag: string
  /** One-letter alias, if any. */
  readonly short?: string
  readonly kind: OptionKind
  /** Inclusive bounds for `int`. */
  readonly min?: number
  readonly max?: number
  /** The values a `string` option accepts, if limited. */
  readonly choices?: readonly string[]
  /** Human-readable default for help and README. */
  readonly defaultText: string
  readonly description: string
}

/** Values of all options after parsing; `undefined` means "not set" (use the default). */
export interface OptionValues {
  config: string | undefined
  port: number | undefined
  host: string | undefined
  tlsPort: number | undefined
  cert: string | undefined
  key: string | undefined
  ca: string | undefined
  requireClientCert: boolean | undefined
  useIdentityAsUsername: boolean | undefined
  wsPort: number | undefined
  wssPort: number | undefined
  proxyProtocol: boolean | undefined
  httpStatic: string | undefined
  allowAnonymous: boolean | undefined
  passwordFile: string | undefined
  aclFile: string | undefined
  store: string | undefined
  dataDir: string | undefined
  fsync: boolean | undefined
  persistInflight: boolean | undefined
  nodeId: string | undefined
  cluster: boolean | undefined
  clusterDeadAfter: number | undefined
  sysInterval: number | undefined
  maxKeepalive: number | undefined
  maxConnections: number | undefined
  maxPendingConnections: number | undefined
  maxPendingPerAddress: number | undefined
  maxConnectPacketSize: number | undefined
  maxUserProperties: number | undefined
  maxUserPropertyBytes: number | undefined
  maxTopicAliasBytes: number | undefined
  maxAliasedTopicLength: number | undefined
  maxPacketSize: number | undefined
  maxTopicLevels: number | undefined
  maxQueuedMessages: number | undefined
  maxQueuedBytes: number | undefined
  stallTimeout: number | undefined
  maxStoredMessages: number | undefined
  queuePolicy: string | undefined
  maxInflight: number | undefined
  maxInflightOut: number | undefined
  maxRetained: number | undefined
  connectTimeout: number | undefined
  publishRate: number | undefined
  topicAliasMaximum: number | undefined
  maxBufferedBytes: number | undefined
  maxSessionExpiry: number | undefined
  verbose: boolean | undefined
  logLevel: string | undefined
  logFormat: string | undefined
  wsPath: string | undefined
  httpPort: number | undefined
  httpsPort: number | undefined
  httpHost: string | undefined
  httpToken: string | undefined
  httpMaxBody: number | undefined
  coapPort: number | undefined
  coapHost: string | undefined
  coapUsername: string | undefined
  /** Config file only (`plugins:`, a list): plugin modules and their options. */
  plugins?: Array<{ module: string, options: Record<string, unknown> }> | undefined
  /** Config file only (`bridges:`, a list): connections to remote brokers. */
  bridges?: BridgeSpec[] | undefined
}

const PORT = { kind: 'int', min: 0, max: 65535 } as const
const U32 = 0xFFFFFFFF

/** Every option, in help order. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'config', flag: 'config', short: 'c', kind: 'path', defaultText: 'none', description: 'Read options from a JSON or YAML file (keys as in this table, camelCase or kebab-case).' },
  { key: 'port', flag: 'port', short: 'p', ...PORT, defaultText: '1883', description: 'MQTT over TCP port (0 = any free port).' },
  { key: 'host', flag: 'host', kind: 'string', defaultText: 'loopback (127.0.0.1 and ::1)', description: 'Address every listener binds to. A non-loopback address needs --password-file or --allow-anonymous.' },
  { key: 'tlsPort', flag: 'tls-port', ...PORT, defaultText: 'off', description: 'MQTT over TLS port; needs --cert and --key.' },
  { key: 'cert', flag: 'cert', kind: 'path', defaultText: 'none', description: 'PEM certificate (chain) for the TLS and WSS listeners.' },
  { key: 'key', flag: 'key', kind: 'path', defaultText: 'none', description: 'PEM private key for --cert.' },
  { key: 'ca', flag: 'ca', kind: 'path', defaultText: 'none', description: 'PEM CA bundle used to verify client certificates.' },
  { key: 'requireClientCert', flag: 'require-client-cert', kind: 'bool', defaultText: 'false', description: 'TLS/WSS clients must present a certificate signed by --ca.' },
  { key: 'useIdentityAsUsername', flag: 'use-identity-as-username', kind: 'bool', defaultText: 'false', description: 'TLS/WSS clients are known by their certificate CN instead of the CONNECT username (for the ACL, %u and session ownership); needs --require-client-cert.' },
  { key: 'wsPort', flag: 'ws-port', ...PORT, defaultText: 'off', description: 'MQTT over WebSocket port (any path, or only --ws-path); the same HTTP server serves --http-static and /culex-client.js.' },
  { key: 'wssPort', flag: 'wss-port', ...PORT, defaultText: 'off', description: 'MQTT over secure WebSocket port (any path, or only --ws-path); needs --cert and --key.' },
  { key: 'proxyProtocol', flag: 'proxy-protocol', kind: 'bool', defaultText: 'false', description: 'The TCP and TLS listeners expect a PROXY protocol v1 or v2 header (HAProxy send-proxy / send-proxy-v2, cloud load balancers) before MQTT (TLS: before the handshake) and use its client address; connections without a valid header within --connect-timeout are closed and logged.' },
  { key: 'httpStatic', flag: 'http-static', kind: 'path', defaultText: 'none', description: 'Directory served over HTTP(S) on the WebSocket listeners.' },
  { key: 'allowAnonymous', flag: 'allow-anonymous', kind: 'bool', defaultText: 'true without --password-file, else false', description: 'Accept clients that send no username.' },
  { key: 'passwordFile', flag: 'password-file', kind: 'path', defaultText: 'none', description: 'Mosquitto password file (user:$7$... or user:$6$...), made by `culex passwd` or mosquitto_passwd.' },
  { key: 'aclFile', flag: 'acl-file', kind: 'path', defaultText: 'none', description: 'Mosquitto ACL file (user / topic / pattern lines).' },
  { key: 'store', flag: 'store', kind: 'store', defaultText: 'level', description: 'Persistence: memory, level, redis://..., rediss://..., redis+cluster://host:port,..., rediss+cluster://..., mongodb://... or mongodb+srv://... (Redis Cluster startup nodes)' },
  { key: 'dataDir', flag: 'data-dir', kind: 'path', defaultText: './.culex-data', description: 'Directory of the level store.' },
  { key: 'fsync', flag: 'fsync', kind: 'bool', defaultText: 'true', description: 'Level store: fsync every write batch before a PUBACK/PUBREC is sent, so an acknowledged message survives a power loss. false still survives a crash or kill of culex, not of the machine, and is faster.' },
  { key: 'persistInflight', flag: 'persist-inflight', kind: 'bool', defaultText: 'true', description: 'Store QoS 1/2 messages for connected persistent sessions too, before the publisher is acknowledged, so a crash loses no acknowledged message. false keeps them in memory until the subscriber acknowledges (faster; a crash loses what connected subscribers had not acknowledged). Engine persistInflight.' },
  { key: 'cluster', flag: 'cluster', kind: 'bool', defaultText: 'false', description: 'Cluster with every culex sharing the --store redis://... (RedisBus on the same Redis): publishes and session takeovers cross nodes.' },
  { key: 'clusterDeadAfter', flag: 'cluster-dead-after', kind: 'int', min: 300, max: 3_600_000, defaultText: '3000', description: 'Milliseconds without a heartbeat in Redis after which a --cluster node is dead: one live node (an atomic claim in Redis) publishes the wills of its clients, each after its will delay counted from the death. Nodes beat every third of it, at most every second. Needs --cluster.' },
  { key: 'nodeId', flag: 'node-id', kind: 'string', defaultText: 'level: kept in <data-dir>/node-id; redis, mongodb: culex-<hostname>; --cluster: required, or kept in <data-dir>/node-id with --data-dir', description: 'Broker node id (cluster member name, will ownership). It must survive a restart: at start the broker publishes the wills its earlier run left. With --cluster give each node its own (no spaces or braces).' },
  { key: 'sysInterval', flag: 'sys-interval', kind: 'int', min: 0, max: 86400, defaultText: '10', description: 'Seconds between $SYS updates (0 = off).' },
  { key: 'maxKeepalive', flag: 'max-keepalive', kind: 'int', min: 0, max: 65535, defaultText: '0 (any)', description: 'Largest keepalive (seconds) granted; 5.0 clients are told via Server Keep Alive. Engine limits.maxKeepalive.' },
  { key: 'maxConnections', flag: 'max-connections', kind: 'int', min: 0, max: U32, defaultText: '0 (unlimited)', description: 'Concurrent connections past CONNECT; more are refused (5.0: CONNACK 0x97 Quota exceeded; 3.1.1: return code 3). Engine limits.maxConnections.' },
  { key: 'maxPendingConnections', flag: 'max-pending-connections', kind: 'int', min: 1, max: U32, defaultText: '4096', description: 'Sockets that have not sent a CONNECT yet; a new socket beyond it is closed at once. They do not count toward --max-connections. Engine limits.maxPendingConnections.' },
  { key: 'maxPendingPerAddress', flag: 'max-pending-per-address', kind: 'int', min: 1, max: U32, defaultText: '512', description: 'Sockets from one remote address that have not sent a CONNECT yet; beyond it a new socket from that address is closed at once. Engine limits.maxPendingPerAddress.' },
  { key: 'maxConnectPacketSize', flag: 'max-connect-packet-size', kind: 'int', min: 64, max: 268435455, defaultText: '8192', description: 'Largest first packet (the CONNECT), bytes, checked before anything is buffered; the first packet must be a CONNECT. Raise it for wills or credentials over a few KB. Engine limits.maxConnectPacketSize.' },
  { key: 'maxUserProperties', flag: 'max-user-properties', kind: 'int', min: 0, max: U32, defaultText: '256', description: 'User properties in one packet from a client; more get DISCONNECT 0x95. Engine limits.maxUserProperties.' },
  { key: 'maxUserPropertyBytes', flag: 'max-user-property-bytes', kind: 'int', min: 0, max: 268435455, defaultText: '65536', description: 'Bytes of user properties (names, values, length prefixes) in one packet from a client; more get DISCONNECT 0x95. Engine limits.maxUserPropertyBytes.' },
  { key: 'maxTopicAliasBytes', flag: 'max-topic-alias-bytes', kind: 'int', min: 0, max: U32, defaultText: '65536', description: 'Approximate bytes the outbound topic aliases of one 5.0 connection may hold (each topic: its length + 64); the least recently used alias is reassigned beyond it; 0 = no outbound aliases. Engine limits.maxTopicAliasBytes.' },
  { key: 'maxAliasedTopicLength', flag: 'max-aliased-topic-length', kind: 'int', min: 0, max: 65535, defaultText: '1024', description: 'Longest topic given an outbound topic alias; longer ones are always sent in full. Engine limits.maxAliasedTopicLength.' },
  { key: 'maxPacketSize', flag: 'max-packet-size', kind: 'int', min: 64, max: 268435455, defaultText: '16777216', description: 'Largest packet accepted, bytes (advertised in CONNACK). Engine limits.maxPacketSize.' },
  { key: 'maxTopicLevels', flag: 'max-topic-levels', kind: 'int', min: 1, max: 65535, defaultText: '200', description: 'Most levels a topic or filter may have. Engine limits.maxTopicLevels.' },
  { key: 'maxQueuedMessages', flag: 'max-queued-messages', kind: 'int', min: 0, max: U32, defaultText: '1000', description: 'QoS 1/2 messages a connected session queues before it is full; then --queue-policy applies. Engine limits.maxQueuedMessages.' },
  { key: 'maxQueuedBytes', flag: 'max-queued-bytes', kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, defaultText: '16777216', description: 'Payload + topic bytes a connected session queues before it is full. Engine limits.maxQueuedBytes.' },
  { key: 'queuePolicy', flag: 'queue-policy', kind: 'string', choices: ['block', 'drop-oldest', 'reject'], defaultText: 'block', description: 'When a QoS 1/2 message finds a session queue full: block (the publisher\'s PUBACK/PUBREC waits for room; nothing acknowledged is lost), drop-oldest (drop the oldest queued message, counted and logged; loses acknowledged messages), reject (5.0 publishers get PUBACK/PUBREC 0x97; 3.x publishers wait). Engine queuePolicy.' },
  { key: 'stallTimeout', flag: 'stall-timeout', kind: 'int', min: 0, max: U32, defaultText: '30000', description: 'Milliseconds a session queue may stay full without delivering anything before its subscriber is disconnected (5.0: 0x97); a clean session then ends, a persistent one keeps its queue in the store. 0 = never. Engine limits.stallTimeout.' },
  { key: 'maxStoredMessages', flag: 'max-stored-messages', kind: 'int', min: 0, max: U32, defaultText: '100000', description: 'QoS 1/2 messages stored for an offline persistent session; beyond it the session ends (Session Present 0 on its next CONNECT). Engine limits.maxStoredMessages.' },
  { key: 'maxInflight', flag: 'max-inflight', kind: 'int', min: 1, max: 65535, defaultText: '100', description: 'Unacknowledged QoS 1/2 messages a client may send to culex (advertised Receive Maximum); also the outbound window when --max-inflight-out is not given. Engine limits.maxInflight.' },
  { key: 'maxInflightOut', flag: 'max-inflight-out', kind: 'int', min: 1, max: 65535, defaultText: '1000 (or --max-inflight when only that is given)', description: 'Unacknowledged QoS 1/2 messages culex sends to one client; a 5.0 client\'s Receive Maximum lowers it. Engine limits.maxInflightOut.' },
  { key: 'maxRetained', flag: 'max-retained', kind: 'int', min: 0, max: U32, defaultText: '0 (unlimited)', description: 'Retained messages kept; new retained topics beyond it are not stored. Engine limits.maxRetained.' },
  { key: 'connectTimeout', flag: 'connect-timeout', kind: 'int', min: 1, max: 3600000, defaultText: '30000', description: 'Milliseconds a new connection may take to send CONNECT. Engine limits.connectTimeout.' },
  { key: 'publishRate', flag: 'publish-rate', kind: 'int', min: 0, max: U32, defaultText: '0 (unlimited)', description: 'PUBLISH packets per second per client; above it the client is disconnected (0x96). Engine limits.publishRatePerSecond.' },
  { key: 'topicAliasMaximum', flag: 'topic-alias-maximum', kind: 'int', min: 0, max: 65535, defaultText: '10', description: 'Topic aliases a 5.0 client may use towards the broker. Engine limits.topicAliasMaximum.' },
  { key: 'maxBufferedBytes', flag: 'max-buffered-bytes', kind: 'int', min: 1024, max: U32, defaultText: '1048576', description: 'Socket backlog above which QoS 0 is dropped for that client and QoS 1/2 waits in its queue. Engine limits.maxBufferedBytes.' },
  { key: 'maxSessionExpiry', flag: 'max-session-expiry', kind: 'int', min: 0, max: U32, defaultText: '4294967295 (never)', description: 'Highest session expiry interval granted, seconds. Engine limits.maxSessionExpiryInterval.' },
  { key: 'verbose', flag: 'verbose', short: 'v', kind: 'bool', defaultText: 'false', description: 'Debug logging (same as --log-level debug).' },
  { key: 'logLevel', flag: 'log-level', kind: 'string', defaultText: 'info', description: 'Log level: fatal, error, warn, info, debug, trace or silent.' },
  { key: 'logFormat', flag: 'log-format', kind: 'string', defaultText: 'pretty on a terminal, else json', description: 'Log format: json (one object per line) or pretty.' },
  { key: 'wsPath', flag: 'ws-path', kind: 'string', defaultText: 'any path', description: 'The only URL path WebSocket listeners accept MQTT on (e.g. /mqtt); other paths get HTTP 404.' },
  { key: 'httpPort', flag: 'http-port', ...PORT, defaultText: 'off', description: 'Operator HTTP port: /metrics, /health, /ready, /resources/<topic> REST, /api admin API, web console.' },
  { key: 'httpsPort', flag: 'https-port', ...PORT, defaultText: 'off', description: 'Operator HTTPS port (same routes as --http-port); needs --cert and --key.' },
  { key: 'httpHost', flag: 'http-host', kind: 'string', defaultText: 'loopback (127.0.0.1 and ::1)', description: 'Address the operator HTTP(S) listeners bind to.' },
  { key: 'httpToken', flag: 'http-token', kind: 'string', defaultText: 'none', description: 'Bearer token for the operator HTTP(S) listeners: full access (metrics, admin API, every topic). Users of --password-file may log in with HTTP Basic instead.' },
  { key: 'httpMaxBody', flag: 'http-max-body', kind: 'int', min: 0, max: 268435455, defaultText: '1048576', description: 'Largest HTTP request body accepted, bytes (larger: 413).' },
  { key: 'coapPort', flag: 'coap-port', ...PORT, defaultText: 'off', description: 'CoAP gateway UDP port (coap://host/r/<topic>: GET reads the retained message, PUT publishes retained, POST publishes, GET with Observe subscribes).' },
  { key: 'coapHost', flag: 'coap-host', kind: 'string', defaultText: 'loopback (127.0.0.1 and ::1)', description: 'Address the CoAP gateway binds to. A non-loopback address needs --acl-file or --allow-anonymous (CoAP requests carry no credentials).' },
  { key: 'coapUsername', flag: 'coap-username', kind: 'string', defaultText: 'none (anonymous)', description: 'The MQTT username whose ACL rights CoAP requests have; without it they are an anonymous client (refused with 4.01 when anonymous clients are not allowed).' }
]

/** `--port` → spec, `-p` → spec. */
export const BY_FLAG: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.flatMap(o => {
  const e: Array<[string, OptionSpec]> = [[o.flag, o]]
  if (o.short !== undefined) e.push([o.short, o])
  return e
}))

/** `CULEX_PORT` → spec. */
export const BY_ENV: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map(o => [envName(o), o]))

/** Config-file key (camelCase or kebab-case) → spec. */
export const BY_KEY: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.flatMap(o => [[o.key, o], [o.flag, o]] as Array<[string, OptionSpec]>))

/** The environment variable of an option: `tls-port` → `CULEX_TLS_PORT`. */
export function envName (o: OptionSpec): string {
  return 'CULEX_' + o.flag.toUpperCase().replaceAll('-', '_')
}
