/**
 * Options of {@link Broker}: limits (each with a default), hooks, store, bus and logger.
 *
 * Units: sizes in bytes, `connectTimeout` in milliseconds, keepalive and `sysInterval` in
 * seconds (as MQTT counts them).
 */
import type { ConnectPacket, PublishPacket, Subscription } from '@culex/packet'
import type { Bus } from './bus.ts'
import type { Clock } from './clock.ts'
import type { Store, StoredMessage } from './store.ts'

/** Transport a connection came in on, as the app reports it to `handle`. */
export type Transport = 'tcp' | 'tls' | 'ws' | 'wss' | 'other'

/** What the app knows about a stream it hands to `broker.handle`. */
export interface ConnectionInfo {
  remoteAddress?: string
  remotePort?: number
  transport?: Transport
  /** The peer's TLS certificate, if the app asked for one. */
  tlsCertificate?: unknown
}

/** The view of a connected (or connecting) client that hooks and events receive. */
export interface Client {
  /** Client identifier; '' until CONNECT was processed. Assigned ids appear here. */
  readonly id: string
  /** 3, 4 or 5; 0 until CONNECT was processed. */
  readonly protocolVersion: 0 | 3 | 4 | 5
  readonly username: string | undefined
  readonly info: ConnectionInfo
  /** True between a successful CONNACK and the close of the connection. */
  readonly connected: boolean
  /** Keepalive in effect, in seconds (after the server maximum was applied). */
  readonly keepalive: number
  /** Close the connection; 5.0 clients get DISCONNECT `reasonCode` (default 0x98 administrative action). */
  close (reasonCode?: number, reasonString?: string): void
}

/**
 * Result of `authenticate` and `preConnect`: allow, or refuse with a reason; `authenticate`
 * may also allow under another username (`{ username }`, e.g. the CN of a TLS client
 * certificate): the connection then has that username for every later decision, and its
 * session belongs to it.
 */
export type AuthResult = boolean | { reasonCode: number, reasonString?: string } | { username: string }

/** One step of MQTT 5 enhanced authentication, given to `authenticateEnhanced`. */
export interface EnhancedAuthRequest {
  /** Authentication Method from CONNECT. */
  method: string
  /** Authentication Data from the CONNECT or AUTH packet. */
  data: Buffer | undefined
  /** 'connect': first step (CONNECT); 'continue': AUTH 0x18; 'reauthenticate': AUTH 0x19 after connect. */
  step: 'connect' | 'continue' | 'reauthenticate'
}

/** Answer of `authenticateEnhanced`. */
export interface EnhancedAuthResponse {
  /** 0x00 success, 0x18 continue (send `data` in AUTH and wait for the client), or a failure code (>= 0x80). */
  reasonCode: number
  data?: Buffer
  reasonString?: string
}

/** Hooks: every one is optional; absent means "allow". They may be sync or async. */
export interface BrokerHooks {
  /** Called first for every CONNECT, before `authenticate` (e.g. per-address rate limits). */
  preConnect?: (client: Client, packet: ConnectPacket) => AuthResult | Promise<AuthResult>
  /** Check credentials. `false` refuses with 0x86 (5.0) / return code 4 (3.x). */
  authenticate?: (client: Client, username: string | undefined, password: Buffer | undefined) => AuthResult | Promise<AuthResult>
  /**
   * MQTT 5 enhanced authentication (CONNECT with an Authentication Method, AUTH packets,
   * re-authentication). Without this hook such CONNECTs get 0x8C Bad authentication method.
   */
  authenticateEnhanced?: (client: Client, request: EnhancedAuthRequest) => EnhancedAuthResponse | Promise<EnhancedAuthResponse>
  /**
   * May `client` publish `packet` (also called for its will when it is published)?
   * `false` refuses (5.0: PUBACK/PUBREC 0x87; 3.x: acknowledged and dropped); a number is
   * the reason code to answer with.
   */
  authorizePublish?: (client: Client, packet: PublishPacket) => boolean | number | Promise<boolean | number>
  /**
   * May `client` subscribe to `subscription`? `false` refuses (SUBACK 0x87 in 5.0, 0x80 in
   * 3.x); a QoS number grants at most that QoS; a number >= 0x80 is the SUBACK reason code.
   */
  authorizeSubscribe?: (client: Client, subscription: Subscription) => boolean | number | Promise<boolean | number>
  /**
   * May `client` receive a message on `topic`? Synchronous; decided for **every delivery on
   * every path** — live, retained on SUBSCRIBE, offline queue and in-flight replay on
   * resume, shared-subscription members, wills, in-process subscribers — against the
   * receiver's current identity. A SUBSCRIBE grant is not a read grant: a `#` subscription
   * still only receives what this hook allows. While the receiving session is offline, the
   * `client` is a snapshot of the identity that last held it (`connected` false).
   *
   * The answer is cached per (session, topic), so it must depend on the client's identity
   * (id, username, connection info) and the topic only. The cache is dropped when the
   * session's identity changes (reconnect, re-authentication) and by
   * {@link Broker.invalidateAuthorization} (call it when the rules change). A hook that
   * throws denies.
   */
  authorizeRead?: (client: Client, topic: string) => boolean
  /**
   * Optional companion of `authorizeRead`: true only if `client` may read **every** topic
   * `filter` matches (false when unsure). A subscription it holds for is then delivered
   * without asking `authorizeRead` per topic; it is asked again when the session's identity
   * or the rules change (see {@link Broker.invalidateAuthorization}). Synchronous; a throw
   * counts as false.
   */
  authorizeReadFilter?: (client: Client, filter: string) => boolean
  /**
   * Synchronous, called per delivery on every path, after `authorizeRead`: return the
   * message to send to `client` (the same object or a changed copy), or null to skip this
   * client. Not cached.
   */
  authorizeForward?: (client: Client, message: StoredMessage) => StoredMessage | null
}

/** Limits; every one has a default. */
export interface BrokerLimits {
  /**
   * Concurrent connections past CONNECT; a CONNECT beyond it is refused (0x97 / return code 3).
   * Sockets that have not sent a CONNECT yet do not count (see `maxPendingConnections`).
   * Default Infinity.
   */
  maxConnections?: number
  /**
   * Sockets that have not sent a CONNECT yet, all addresses together; a new socket beyond it
   * is closed at once without a byte read. Default 4096.
   */
  maxPendingConnections?: number
  /**
   * Sockets from one remote address that have not sent a CONNECT yet; a new socket from that
   * address beyond it is closed at once. Streams without a known address are not counted
   * per address. Default 512.
   */
  maxPendingPerAddress?: number
  /**
   * Largest first packet (the CONNECT), bytes: checked from its fixed header before any of it
   * is buffered, so a socket that never authenticates holds at most this much. The limit
   * becomes `maxPacketSize` once the CONNECT is parsed. A CONNECT carries the client id, user
   * name, password and the will (topic, payload, properties): raise this when clients send
   * wills or credentials larger than a few KB. Default 8192.
   */
  maxConnectPacketSize?: number
  /** Largest packet accepted from clients, bytes (advertised in CONNACK). Default 16 MiB. */
  maxPacketSize?: number
  /**
   * User properties one packet from a client may carry (all its property sections together);
   * one more closes the connection with 0x95 Packet too large. Bounds the CPU one packet can
   * cost. Default 256.
   */
  maxUserProperties?: number
  /**
   * Bytes the user properties of one packet from a client may take (names and values with
   * their 2-byte length prefixes); more close the connection with 0x95. Default 65536.
   */
  maxUserPropertyBytes?: number
  /**
   * Memory, approximate bytes, the outbound topic aliases of one 5.0 connection may hold: each
   * aliased topic costs its length plus 64. Beyond it the least recently used alias is
   * reassigned to the new topic, so the heap per connection stays bounded whatever Topic
   * Alias Maximum the client announces. 0 turns outbound aliases off. Default 65536.
   */
  maxTopicAliasBytes?: number
  /**
   * Longest topic (characters) the broker gives an outbound topic alias; longer topics are
   * always sent in full. Default 1024.
   */
  maxAliasedTopicLength?: number
  /** Maximum levels of a topic name or filter. Default 200 (Mosquitto's). */
  maxTopicLevels?: number
  /**
   * QoS 1/2 messages a connected session's queue holds (waiting for room in its inflight
   * window or its socket) before it counts as full; what happens then is
   * {@link BrokerOptions.queuePolicy}. Default 1000.
   */
  maxQueuedMessages?: number
  /**
   * Bytes (payload + topic) a connected session's queue holds before it counts as full, like
   * `maxQueuedMessages`. Default 16 MiB.
   */
  maxQueuedBytes?: number
  /**
   * Milliseconds a connected session's queue may stay full without delivering anything before
   * the subscriber is stalled (a slow subscriber that keeps reading is not): its connection is closed (5.0: DISCONNECT 0x97 Quota exceeded). A clean session then
   * ends and its queue is released; a persistent session keeps its queue in the store (up to
   * `maxStoredMessages`). 0 never stalls. Default 30000.
   */
  stallTimeout?: number
  /**
   * QoS 1/2 messages queued in the store for one persistent session while it is offline;
   * beyond it the session ends (its next CONNECT gets Session Present 0) rather than losing
   * messages silently. Default 100000.
   */
  maxStoredMessages?: number
  /**
   * Unacknowledged QoS 1/2 messages a client may have towards the broker (the advertised
   * Receive Maximum; a 3.x publisher is not read while that many of its messages wait for
   * their acknowledgement). Default 100.
   */
  maxInflight?: number
  /**
   * Unacknowledged QoS 1/2 messages the broker sends to one client before the rest wait in
   * its queue; a 5.0 client's own Receive Maximum lowers it. The window a subscriber drains
   * per round trip: under load, a broker that sends only 100 per round trip waits for the
   * subscriber instead of working (the overload bench: 34,500 → 63,500 msg/s on a loaded
   * machine going from 100 to 1000). Only the first `maxInflight` messages in flight may keep
   * a view of the publisher's socket chunk; the rest are copies. Default 1000, or
   * `maxInflight` when only that is set (it was once the limit in both directions).
   */
  maxInflightOut?: number
  /** Retained messages kept; new retained topics beyond it are not stored. Default Infinity. */
  maxRetained?: number
  /** Milliseconds a new connection may take to send CONNECT. Default 30000. */
  connectTimeout?: number
  /** Highest keepalive granted, seconds: 5.0 clients get Server Keep Alive, 3.x clients above it are refused (return code 2). 0 allows any. Default 0. */
  maxKeepalive?: number
  /** PUBLISH packets per second per client; above it the client is disconnected (0x96). 0 = unlimited. Default 0. */
  publishRatePerSecond?: number
  /** Topic aliases a 5.0 client may use towards the broker (Topic Alias Maximum). Default 10. */
  topicAliasMaximum?: number
  /** Bytes buffered for a socket above which QoS 0 is dropped and QoS 1/2 waits in the queue. Default 1 MiB. */
  maxBufferedBytes?: number
  /** Highest session expiry interval granted, seconds. Default 0xFFFFFFFF (never). */
  maxSessionExpiryInterval?: number
}

/**
 * What happens when a QoS 1/2 message matches a connected session whose queue is full
 * (`limits.maxQueuedMessages` / `limits.maxQueuedBytes`):
 * - `'block'` (default): the message is queued, and the publisher's PUBACK / PUBREC waits
 *   until that queue has room again (or the subscriber was stalled, see `limits.stallTimeout`).
 *   A 5.0 publisher is bounded by its Receive Maximum; a 3.x publisher's socket is not read
 *   while `limits.maxInflight` of its messages wait for their acknowledgement. Nothing
 *   acknowledged is ever dropped.
 * - `'drop-oldest'`: the oldest queued message of the full session is dropped (counted in
 *   `stats.publishDropped` and `stats.queueDropped`, logged at warn), and the publisher is
 *   acknowledged at once (Mosquitto's behaviour).
 * - `'reject'`: a 5.0 publisher gets PUBACK / PUBREC 0x97 Quota exceeded, and the full session
 *   does not get the message (other matching sessions do); 3.x publishers, which have no
 *   negative acknowledgement, wait as with `'block'`.
 */
export type QueuePolicy = 'block' | 'drop-oldest' | 'reject'

/** A pino-like logger. */
export interface Logger {
  debug (obj: unknown, msg?: string): void
  info (obj: unknown, msg?: string): void
  warn (obj: unknown, msg?: string): void
  error (obj: unknown, msg?: string): void
}

/** Options of `new Broker(options)`. */
export interface BrokerOptions extends BrokerHooks {
  /** Broker id (used as node id and in $SYS). Default: the bus's node id, or a random UUID. */
  id?: string
  /** Persistence. Default: a new {@link MemoryStore} (closed by `broker.close()`). */
  store?: Store
  /** Cluster bus. Default: a new {@link LocalBus}. */
  bus?: Bus
  limits?: BrokerLimits
  /** What a full session queue does to the publishers that feed it; see {@link QueuePolicy}. Default `'block'`. */
  queuePolicy?: QueuePolicy
  /** Seconds between $SYS publications; 0 turns $SYS off. Default 10. */
  sysInterval?: number
  /**
   * MQTT 5 Response Information for a client that asks for it (Request Response Information
   * 1 in CONNECT): typically a topic prefix reserved for that client's responses, e.g.
   * `(client) => \`responses/${client.id}/\``. Return undefined to send none. Default: none.
   * Never sent to a client that did not ask [MQTT-3.1.2-28].
   */
  responseInformation?: (client: Client) => string | undefined
  /**
   * Write QoS 1/2 messages for *connected* persistent sessions to the store as well, before the
   * publisher's PUBACK / PUBREC, and keep them there until the subscriber acknowledges them.
   * Default `true`: a broker crash loses no acknowledged message, whether its subscriber was
   * offline or connected. `false` keeps deliveries to connected sessions in memory only (much
   * faster with a store that does I/O; what a crash then loses is what connected persistent
   * subscribers had not acknowledged yet). Offline sessions are always stored.
   */
  persistInflight?: boolean
  /**
   * Time every store call into per-operation latency histograms, read through
   * `broker.metrics().storeOperations` (the culex app's `culex_store_operation_duration_seconds`).
   * `broker.store` is then a `TimedStore` wrapping the given store. Default `false`.
   */
  storeMetrics?: boolean
  logger?: Logger
  /**
   * The clock behind every timer and time reading of the engine: keepalive, connect and stall
   * timeouts, session expiry, will delay, message expiry, `$SYS`, and the default
   * MemoryStore's expiry checks. Default: the real clock (`Date.now` and Node's timers).
   * Give a fake one to run expiry and delays on virtual time in tests.
   */
  clock?: Clock
}

/** Limits with every default filled in. */
export type ResolvedLimits = Required<BrokerLimits>

/** The default of every limit. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  maxConnections: Infinity,
  maxPendingConnections: 4096,
  maxPendingPerAddress: 512,
  maxConnectPacketSize: 8192,
  maxPacketSize: 16 * 1024 * 1024,
  maxUserProperties: 256,
  maxUserPropertyBytes: 65536,
  maxTopicAliasBytes: 65536,
  maxAliasedTopicLength: 1024,
  maxTopicLevels: 200,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  stallTimeout: 30_000,
  maxStoredMessages: 100_000,
  maxInflight: 100,
  maxInflightOut: 1000,
  maxRetained: Infinity,
  connectTimeout: 30_000,
  maxKeepalive: 0,
  publishRatePerSecond: 0,
  topicAliasMaximum: 10,
  maxBufferedBytes: 1024 * 1024,
  maxSessionExpiryInterval: 0xFFFFFFFF
})

/** Fill in defaults and check types; throws a TypeError naming the bad option. */
export function resolveLimits (limits: BrokerLimits = {}): ResolvedLimits {
  const out = { ...DEFAULT_LIMITS }
  for (const [key, value] of Object.entries(limits) as Array<[keyof ResolvedLimits, unknown]>) {
    if (!(key in DEFAULT_LIMITS)) throw new TypeError(`limits.${key}: unknown limit (expected one of ${Object.keys(DEFAULT_LIMITS).join(', ')})`)
    if (value === undefined) continue
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
      throw new TypeError(`limits.${key}: expected a number >= 0, got ${String(value)}`)
    }
    out[key] = value
  }
  if (out.maxInflight < 1 || out.maxInflight > 65535) throw new TypeError(`limits.maxInflight: expected 1..65535, got ${out.maxInflight}`)
  if (limits.maxInflightOut === undefined && limits.maxInflight !== undefined) out.maxInflightOut = out.maxInflight
  if (out.maxInflightOut < 1 || out.maxInflightOut > 65535) throw new TypeError(`limits.maxInflightOut: expected 1..65535, got ${out.maxInflightOut}`)
  if (out.topicAliasMaximum > 65535) throw new TypeError(`limits.topicAliasMaximum: expected 0..65535, got ${out.topicAliasMaximum}`)
  if (out.maxKeepalive > 65535) throw new TypeError(`limits.maxKeepalive: expected 0..65535, got ${out.maxKeepalive}`)
  if (out.maxPacketSize < 64 || out.maxPacketSize > 268435455) throw new TypeError(`limits.maxPacketSize: expected 64..268435455, got ${out.maxPacketSize}`)
  if (out.maxConnectPacketSize < 64) throw new TypeError(`limits.maxConnectPacketSize: expected at least 64, got ${out.maxConnectPacketSize}`)
  return out
}

const POLICIES: readonly QueuePolicy[] = ['block', 'drop-oldest', 'reject']

/** Check `queuePolicy`; throws a TypeError naming the option. */
export function resolveQueuePolicy (policy: unknown): QueuePolicy {
  if (policy === undefined) return 'block'
  if (!POLICIES.includes(policy as QueuePolicy)) throw new TypeError(`queuePolicy: expected one of ${POLICIES.join(', ')}, got ${String(policy)}`)
  return policy as QueuePolicy
}
