/**
 * Public types of @culex/client: options, messages, results.
 */
import type {
  AuthPacket, ConnackPacket, ConnectProperties, DisconnectProperties, PublishPacket,
  PublishProperties, QoS, UserProperties, WillProperties
} from '@culex/packet'
import type { ReconnectOptions } from './backoff.ts'
import type { TransportFactory } from './transport.ts'

/** A received message: the parsed PUBLISH (topic aliases already resolved). */
export type Message = Readonly<PublishPacket>

/** A payload: strings are sent as UTF-8. */
export type Payload = string | Uint8Array

/** The will message published by the server if the client disappears. */
export interface WillOptions {
  topic: string
  payload: Payload
  /** Default 0. */
  qos?: QoS
  /** Default false. */
  retain?: boolean
  /** MQTT 5 will properties (will delay, expiry, content type, ...). */
  properties?: WillProperties
}

/** TLS options passed to `tls.connect` (mqtts://) or to `ws` (wss://) in Node. */
export interface TlsOptions {
  ca?: string | Uint8Array | Array<string | Uint8Array>
  cert?: string | Uint8Array | Array<string | Uint8Array>
  key?: string | Uint8Array | Array<string | Uint8Array>
  passphrase?: string
  /** Default true. */
  rejectUnauthorized?: boolean
  /** SNI server name; defaults to the URL host. */
  servername?: string
  ALPNProtocols?: string[]
}

/**
 * Enhanced authentication hook (MQTT 5): called with each AUTH packet the server sends
 * (reason 0x18 Continue authentication). Return the authentication data to answer with.
 */
export type AuthHook = (packet: AuthPacket) => Promise<Uint8Array | { authenticationData?: Uint8Array, reasonCode?: number }> | Uint8Array

/** Options of {@link Client}. Durations are milliseconds unless named in seconds. */
export interface ClientOptions {
  /** Server URL: mqtt://, mqtts://, ws://, wss:// (Node); ws://, wss:// (browser). */
  url?: string
  /** 4 (MQTT 3.1.1) or 5 (MQTT 5.0). Default 5. */
  protocolVersion?: 4 | 5
  /** Client identifier. Default `culex_` + 16 random hex digits. */
  clientId?: string
  /** Clean session (3.1.1) / clean start (5.0). Default true. */
  clean?: boolean
  /** Keep alive in seconds; 0 disables pings. Default 60. */
  keepalive?: number
  username?: string
  password?: Payload
  will?: WillOptions
  /** MQTT 5 CONNECT properties (session expiry, receive maximum, topic alias maximum, ...). */
  properties?: ConnectProperties
  /** Enhanced authentication hook (MQTT 5); see {@link AuthHook}. */
  onAuth?: AuthHook
  /** Reconnect policy, or false to never reconnect. Default `{ initialDelay: 100, maxDelay: 30000, factor: 2, jitter: 0.5 }`. */
  reconnect?: ReconnectOptions | false
  /** Resubscribe after a reconnect when the server has no session. Default true. */
  resubscribe?: boolean
  /** Time to wait for CONNACK. Default 30000. */
  connectTimeout?: number
  /** Operations (publish, subscribe, unsubscribe) kept while disconnected. Default 1000. */
  offlineQueueLimit?: number
  /** Assign MQTT 5 topic aliases to outgoing PUBLISH when the server allows. Default true. */
  topicAliases?: boolean
  /** Largest packet accepted from the server, in bytes. Default: no limit beyond MQTT's. */
  maxPacketSize?: number
  /**
   * Shape of the MQTT 5 user properties the client hands you (messages, acks, DISCONNECT).
   * Default `'pairs'`: `[name, value][]` in the order the server sent them [MQTT-3.3.2-18].
   * `'object'`: MQTT.js / mqtt-packet's `{ name: value | value[] }`, which loses the order
   * across names. What you send may use either shape.
   */
  userProperties?: 'pairs' | 'object'
  /** TLS options (Node only). */
  tls?: TlsOptions
  /** Extra WebSocket options for `ws` in Node (headers, ...). */
  wsOptions?: Record<string, unknown>
  /** WebSocket subprotocol. Default 'mqtt'. */
  wsProtocol?: string
  /** Replaces the transport (mainly for tests and custom runtimes). */
  transport?: TransportFactory
  /**
   * Called with every incoming PUBLISH before the `message` event. For QoS 1 and 2 the
   * PUBACK / PUBREC waits until the returned promise resolves (acknowledgements still go out
   * in the order the PUBLISH packets arrived [MQTT-4.6.0-2]); when it throws or rejects,
   * nothing is acknowledged and the connection is dropped with `CLIENT_ERR_HANDLER_FAILED`,
   * so a server holding a persistent session sends the message again after the reconnect.
   */
  handleMessage?: (message: Message) => void | Promise<void>
}

/** Options of `publish`. */
export interface PublishOptions {
  /** Default 0. */
  qos?: QoS
  /** Default false. */
  retain?: boolean
  /** MQTT 5 PUBLISH properties. `topicAlias` is managed by the client when `topicAliases` is on. */
  properties?: PublishProperties
}

/** Result of a QoS 1/2 publish: the final acknowledgement's reason code (0 on 3.1.1). */
export interface PublishResult {
  /** PUBACK (QoS 1) or PUBREC (QoS 2) reason code; 0x10 means "no matching subscribers". */
  reasonCode: number
  /** MQTT 5 reason string, if the server sent one. */
  reasonString?: string
  userProperties?: UserProperties
}

/** Options of `subscribe`. */
export interface SubscribeOptions {
  /** Maximum QoS. Default 0. */
  qos?: QoS
  /** MQTT 5 No Local. */
  nl?: boolean
  /** MQTT 5 Retain As Published. */
  rap?: boolean
  /** MQTT 5 Retain Handling (0 send, 1 send if new, 2 don't send). */
  rh?: 0 | 1 | 2
  /** MQTT 5 subscription properties. */
  properties?: { subscriptionIdentifier?: number, userProperties?: UserProperties }
  /** Messages the returned stream keeps while nobody iterates it. Default 1000. */
  bufferSize?: number
}

/** One granted subscription. */
export interface Granted {
  topic: string
  /** Granted QoS (0..2) or failure reason code (≥ 0x80). */
  qos: number
}

/** Options of `end`. */
export interface EndOptions {
  /** MQTT 5 DISCONNECT reason; 0x04 asks the server to publish the will. Default 0. */
  reasonCode?: number
  properties?: DisconnectProperties
  /** Close the socket without DISCONNECT (the will is published). Default false. */
  force?: boolean
}

/** What `connect()` resolves with. */
export interface ConnectResult {
  sessionPresent: boolean
  /** The CONNACK as received. */
  connack: ConnackPacket
}

/** Events of {@link Client}. */
export interface ClientEvents {
  [k: string]: unknown[]
  /** A CONNACK accepted the connection (first connect and every reconnect). */
  connect: [ConnectResult]
  /** A reconnect attempt starts (attempt number, 1-based). */
  reconnect: [number]
  /** The connection closed (it may reconnect). */
  close: [Error | undefined]
  /** Disconnected and waiting to reconnect. */
  offline: []
  /** The client was ended. */
  end: []
  /** An error that has no promise to reject (connection lost, refused reconnect, ...). */
  error: [Error]
  /** A message arrived. */
  message: [Message]
  /** The server sent DISCONNECT (MQTT 5). */
  disconnect: [{ reasonCode: number, properties?: DisconnectProperties }]
}
