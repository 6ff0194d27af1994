/**
 * Ports: everything a packet handler may use, from its connection and from the engine.
 * Handlers are typed against these interfaces, not against the `Connection`, `Engine`,
 * `Router`, `SessionManager` or `DeliveryLog` classes, so what a handler can reach is
 * written down here and nowhere else; the classes implement them (`Connection implements
 * ConnectionPort`, which checks that its engine is an {@link EnginePort}).
 *
 * A connection's own state is read through getters and changed only by the named steps
 * below (no field a handler could assign). The engine ports take the connection as the
 * polymorphic `this` type, so the engine receives the very connection that called it.
 *
 * Nothing here is part of the package's API (not exported from index.ts).
 */
import type { ConnectPacket, Packet, QoS, Will } from '@culex/packet'
import type { Broker } from '../broker.ts'
import type { BrokerErrorCode } from '../errors.ts'
import type { Counters } from '../metrics.ts'
import type { Client } from '../options.ts'
import type { Routed } from '../routed.ts'
import type { Session } from '../session.ts'
import type { StoredMessage } from '../store.ts'

/** What handlers use of the broker facade: options, hooks, store, clock, counters, events. */
export type BrokerPort = Pick<Broker, 'id' | 'hooks' | 'limits' | 'topicLimits' | 'stats' | 'store' | 'clock' |
  'assignClientId' | 'ready' | 'responseInformation' | 'emit' | 'listenerCount' | 'storeError'>

/** Subscriptions of a session, and read authorization (the router). */
export interface SubscriptionsPort {
  /** Add (or replace) `s`'s subscription to `filter`; true when one with that filter existed. */
  add (s: Session, filter: string, qos: QoS, nl: boolean, rap: boolean, rh: 0 | 1 | 2, subId: number): boolean
  /** Remove `s`'s subscription to `filter`; false when there was none. */
  remove (s: Session, filter: string): boolean
  /** `m` as `reader` (holding `s`) may read it (authorizeRead may rewrite it), or null. */
  readable (s: Session, reader: Client, m: StoredMessage): StoredMessage | null
}

/** Session ownership on CONNECT (the session manager). */
export interface SessionsPort<C> {
  /** `c` takes its session (takeover, clean start or resume); null when `c` closed meanwhile. */
  take (c: C, p: ConnectPacket, expiry: number): Promise<{ s: Session, present: boolean } | null>
  /** Replay what the store kept for the resumed session `s` into `c`. */
  resume (c: C, s: Session): Promise<void>
}

/** What a handler asks of the engine. */
export interface EnginePort<C> {
  /** Counters behind broker.metrics(). */
  readonly counters: Counters
  /** Connected to other nodes through a bus (not a LocalBus). */
  readonly clustered: boolean
  /** A new CONNECT must be refused for maxConnections. */
  overCapacity (): boolean
  /** Store (retained) and route a message `from` a client; the work its ack waits for, or null. */
  dispatch (m: Routed, from: C | null): Promise<unknown> | null
  readonly router: SubscriptionsPort
  readonly sessions: SessionsPort<C>
}

/** Room in a session's delivery queue (retained messages are paced by it). */
export interface RoomPort {
  hasRoom (qos: QoS): boolean
  /** Call `fn` once there is room again (or the connection closed). */
  waitRoom (fn: () => void): void
}

/** What a handler uses of its connection. */
export interface ConnectionPort extends Client {
  readonly broker: BrokerPort
  readonly engine: EnginePort<this>

  // ── read ──
  /** One of `State` (connection.ts). */
  readonly state: number
  readonly isClosed: boolean
  /** The session it holds (null before CONNACK). */
  readonly session: Session | null
  /** Its session's delivery queue (null before CONNACK). */
  readonly log: RoomPort | null
  readonly will: Will | null
  /** Session Expiry Interval the client asked for in CONNECT. */
  readonly expiryRequested: number
  readonly authMethod: string | undefined
  readonly reauthenticating: boolean
  /** The client's Maximum Packet Size. */
  readonly maxOut: number
  /** QoS 1 PUBACKs not yet sent + QoS 2 awaiting PUBREL (Receive Maximum). */
  readonly inUnacked: number
  /** The last acknowledgement still waiting (null: none). */
  readonly ackTail: Promise<unknown> | null

  // ── CONNECT, AUTH, DISCONNECT ──
  startConnect (protocolVersion: 3 | 4 | 5, maxOut: number | undefined): void
  identify (id: string, username: string | undefined): void
  authenticatedAs (username: string): void
  useKeepalive (seconds: number): void
  useAuthMethod (method: string): void
  awaitAuth (pending: unknown): void
  authenticated (): unknown
  reauthStep (more: boolean): void
  grantExpiry (requested: number, granted: number): void
  changeExpiry (granted: number): void
  setWill (will: Will): void
  takeWill (): Will | null
  /** CONNACK sent: holds `s`, with the client's Receive Maximum and Topic Alias Maximum. */
  attach (s: Session, window: number, aliasOutMax: number): void
  endByClient (reasonCode: number): void

  // ── inbound PUBLISH ──
  overRate (perSecond: number): boolean
  aliasIn (alias: number): string | undefined
  setAliasIn (alias: number, topic: string): void
  holdInbound (): void
  releaseInbound (): void
  ackAfter (tail: Promise<unknown>): void
  acked (tail: Promise<unknown>): void

  // ── outbound ──
  /** Deliver one message to this client (retained on SUBSCRIBE). */
  deliver (m: Routed, qos: QoS, retain: boolean, ids: number[] | null, group: null): unknown
  onPuback (id: number): void
  onPubrec (id: number, reasonCode: number): void
  onPubcomp (id: number): void
  write (buf: Buffer): void
  writePacket (packet: Packet, version?: 3 | 4 | 5): void
  pingresp (): void

  // ── errors, closing ──
  /** Emit a client error (clientError event, or a debug log). */
  error (code: BrokerErrorCode, message: string, cause?: unknown, reasonCode?: number): void
  disconnect (reasonCode: number, reasonString?: string): void
  teardown (ended: boolean): void
}
