/**
 * `Broker`: the facade of the engine. It never opens sockets: apps hand it duplex streams
 * with `handle()`. What is here: the options, `handle`, `publish`, `subscribe` (in-process),
 * `close`, the events and the stats. The engine behind it (engine.ts) is one file per
 * concern: the router (router.ts: trie, shared groups, match → deliveries), the session
 * manager (session-manager.ts: takeover, clean start, resume, offline, expiry), one
 * delivery log per connected session (delivery-log.ts: each QoS 1/2 delivery's state
 * machine and its store writes) and the wills (wills.ts). None of them is part of the
 * package's API.
 */
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { PublishProperties, QoS } from '@culex/packet'
import { validateFilter, validateTopic } from '@culex/trie'
import type { Bus } from './bus.ts'
import { resolveClock, type Clock } from './clock.ts'
import { Connection } from './connection.ts'
import { Engine } from './engine.ts'
import { BrokerError } from './errors.ts'
import { LocalBus } from './local-bus.ts'
import type { LocalSubscribeOptions, MessageHandler } from './local-subscribers.ts'
import { MemoryStore } from './memory-store.ts'
import { snapshot, type BrokerMetrics } from './metrics.ts'
import {
  resolveLimits, resolveQueuePolicy, type BrokerHooks, type BrokerOptions, type Client, type ConnectionInfo, type Logger,
  type QueuePolicy, type ResolvedLimits
} from './options.ts'
import { Routed } from './routed.ts'
import type { Store, StoredMessage } from './store.ts'
import { SysPublisher } from './sys.ts'
import { TimedStore, storeTimings } from './timed-store.ts'

/** Counters of a broker (the numbers behind `$SYS`). */
export interface BrokerStats {
  /** Clients connected now (past CONNACK). */
  clientsConnected: number
  /** Highest `clientsConnected` seen. */
  clientsMaximum: number
  /** Connections accepted since start. */
  connectionsTotal: number
  /** MQTT packets of any type received / sent. */
  messagesReceived: number
  messagesSent: number
  /** PUBLISH packets received from clients / sent to clients. */
  publishReceived: number
  publishSent: number
  /** Deliveries dropped: QoS 0 to a backed-up socket, queue overflow (queuePolicy 'drop-oldest'), too large for the client, expired. */
  publishDropped: number
  /** Of `publishDropped`: dropped from a full queue under queuePolicy 'drop-oldest'. */
  queueDropped: number
  /** Subscribers whose queue stayed full beyond limits.stallTimeout (connection closed with 0x97). */
  subscribersStalled: number
  /** Persistent sessions ended because their stored queue went beyond limits.maxStoredMessages. */
  sessionsOverflowed: number
  /** QoS 1/2 PUBLISH answered 0x97 because a matching queue was full (queuePolicy 'reject'). */
  publishRejected: number
  bytesReceived: number
  bytesSent: number
  /** Time the broker was created, ms since epoch. */
  startedAt: number
}

/** A message given to {@link Broker.publish}. */
export interface PublishInput {
  topic: string
  payload: Buffer | string
  qos?: QoS
  retain?: boolean
  /** MQTT 5 properties (topicAlias and subscriptionIdentifier are ignored). */
  properties?: PublishProperties
}

/** A subscription as reported by the `subscribe` event. */
export interface GrantedSubscription {
  topic: string
  /** Requested QoS. */
  qos: QoS
  /** Granted QoS or a failure reason code (>= 0x80). */
  granted: number
}

/** Events of {@link Broker}, with their arguments. */
export interface BrokerEvents {
  /** A client passed CONNECT (CONNACK 0 sent). */
  client: [client: Client]
  /** A connected client's connection closed; `reasonCode` is the DISCONNECT reason (-1 if none). */
  clientDisconnect: [client: Client, reasonCode: number]
  /** A message was routed (from a client, a will, `broker.publish` or $SYS); client null if not from a client. */
  publish: [message: StoredMessage, client: Client | null]
  subscribe: [subscriptions: GrantedSubscription[], client: Client]
  unsubscribe: [topics: string[], client: Client]
  /** Something went wrong with one client; the broker carries on. */
  clientError: [client: Client, error: BrokerError]
  /** A broker-wide failure (store, bus). Only emitted when someone listens. */
  error: [error: BrokerError]
  /**
   * Cluster: node `nodeId` was found dead and this node adopted it (it won the bus's claim, so
   * exactly one node of the cluster gets this per death); its wills are being published here.
   */
  nodeAdopted: [nodeId: string]
}

const NO_LOGGER: Logger = { debug () {}, info () {}, warn () {}, error () {} }
const NO_INFO: ConnectionInfo = Object.freeze({})

/** The engine behind a broker, for the package's own modules (not exported from the package). */
let engineOf: (b: Broker) => Engine

/**
 * An MQTT 3.1 / 3.1.1 / 5.0 broker engine.
 *
 * @example
 * ```ts
 * import net from 'node:net'
 * import { Broker } from '@culex/broker'
 * const broker = new Broker()
 * const server = net.createServer((socket) => broker.handle(socket))
 * server.listen(1883)
 * ```
 */
export class Broker extends EventEmitter<BrokerEvents> {
  /** Broker / node id. */
  readonly id: string
  readonly store: Store
  readonly bus: Bus
  readonly limits: ResolvedLimits
  /** What a full session queue does to its publishers (see BrokerOptions.queuePolicy). */
  readonly queuePolicy: QueuePolicy
  /** @internal validator options from the limits, built once */
  readonly topicLimits: { maxLevels: number }
  readonly hooks: BrokerHooks
  /** @internal see BrokerOptions.responseInformation */
  readonly responseInformation: BrokerOptions['responseInformation']
  /** @internal see BrokerOptions.persistInflight */
  readonly persistInflight: boolean
  readonly logger: Logger
  /** The clock every timer and time reading of this broker uses (option `clock`). */
  readonly clock: Clock
  readonly stats: BrokerStats = {
    clientsConnected: 0,
    clientsMaximum: 0,
    connectionsTotal: 0,
    messagesReceived: 0,
    messagesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    publishDropped: 0,
    queueDropped: 0,
    subscribersStalled: 0,
    sessionsOverflowed: 0,
    publishRejected: 0,
    bytesReceived: 0,
    bytesSent: 0,
    startedAt: 0
  }

  readonly #engine: Engine
  readonly #ownStore: boolean
  readonly #ownBus: boolean
  readonly #ready: Promise<void>
  readonly #sys: SysPublisher | null

  static {
    engineOf = (b) => b.#engine
  }

  /**
   * @param options - see {@link BrokerOptions}; every field optional
   * @throws TypeError for an unknown or invalid limit
   */
  constructor (options: BrokerOptions = {}) {
    super()
    this.clock = resolveClock(options.clock)
    this.stats.startedAt = this.clock.now()
    this.limits = resolveLimits(options.limits)
    this.queuePolicy = resolveQueuePolicy(options.queuePolicy)
    this.topicLimits = { maxLevels: this.limits.maxTopicLevels }
    this.hooks = options
    this.responseInformation = options.responseInformation
    this.persistInflight = options.persistInflight ?? true
    this.logger = options.logger ?? NO_LOGGER
    this.#ownStore = options.store === undefined
    const store = options.store ?? new MemoryStore({ maxQueuedMessages: this.limits.maxQueuedMessages, clock: this.clock })
    this.store = options.storeMetrics === true ? new TimedStore(store) : store
    this.#ownBus = options.bus === undefined
    this.bus = options.bus ?? new LocalBus(options.id)
    this.id = options.id ?? this.bus.nodeId
    this.#engine = new Engine(this, !(this.bus instanceof LocalBus))
    this.#ready = this.#engine.restore()
    const every = options.sysInterval ?? 10
    this.#sys = every > 0 ? new SysPublisher(this, every) : null
  }

  /** Resolves once sessions stored by an earlier run are loaded (connections wait for it). */
  ready (): Promise<void> {
    return this.#ready
  }

  /** The connected client with this id, if any. */
  client (clientId: string): Client | undefined {
    return this.#engine.sessions.connectionOf(clientId)
  }

  /** Number of subscriptions (shared members included). */
  get subscriptionCount (): number {
    return this.#engine.router.subscriptionCount
  }

  /** Number of open connections (including those not yet past CONNECT). */
  get connectionCount (): number {
    return this.#engine.connections.size
  }

  /** Sockets that have not sent a CONNECT yet. */
  get pendingConnectionCount (): number {
    return this.#engine.pendingCount
  }

  /**
   * A read-only snapshot of connections, sessions, subscriptions, traffic by QoS, drops by
   * cause, queue depth, inflight and auth failures. Walks the sessions once: call it per
   * scrape, not per message. The retained count is `await broker.store.countRetained()`.
   */
  metrics (): BrokerMetrics {
    const e = this.#engine
    return snapshot(this.stats, e.counters, e.sessions.map.values(), e.connections.size, e.router.subscriptionCount, e.local.size, this.clock.now(), storeTimings(this.store))
  }

  /**
   * Subscribe in-process: `handler` gets every message routed on this node whose topic
   * matches `filter` (from clients, wills, `publish`, $SYS and other nodes: in a cluster the
   * filter joins this node's route table, so other nodes send it matching messages), capped at
   * `options.qos`, without a socket or a session. Not checked by the authorization hooks;
   * handlers run synchronously during routing, so they must be quick.
   *
   * @param filter - an MQTT topic filter (no `$share/`)
   * @returns a function that removes the subscription
   * @throws BrokerError `BROKER_ERR_TOPIC_INVALID` for a bad filter; TypeError for a bad qos
   * @example
   * ```ts
   * const stop = broker.subscribe('sensors/+/temp', (m) => { console.log(m.topic, m.payload.toString()) })
   * stop()
   * ```
   */
  subscribe (filter: string, handler: MessageHandler, options: LocalSubscribeOptions = {}): () => void {
    const bad = filter.startsWith('$share/')
      ? new Error('shared subscriptions are for MQTT sessions')
      : validateFilter(filter, this.topicLimits)
    if (bad !== null) throw new BrokerError('BROKER_ERR_TOPIC_INVALID', `subscribe: ${bad.message}`, { cause: bad })
    const qos = options.qos ?? 2
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError(`subscribe: expected qos 0, 1 or 2, got ${String(qos)}`)
    if (typeof handler !== 'function') throw new TypeError('subscribe: expected a handler function')
    const remove = this.#engine.local.add(filter, handler, qos)
    // in a cluster, other nodes send this node the messages it has a route for: an
    // in-process subscriber counts as one subscription of the route table
    const bus = this.bus
    if (bus.addRoute === undefined) return remove
    bus.addRoute(filter)
    let active = true
    return () => {
      if (!active) return
      active = false
      remove()
      bus.removeRoute?.(filter)
    }
  }

  /**
   * Serve one client over `stream` (a net.Socket, a TLS socket, a WebSocket stream, or any
   * Duplex). The broker reads MQTT packets from it and closes it when the client is done.
   *
   * @param stream - a duplex byte stream
   * @param info - what the app knows about the peer (address, transport, TLS certificate)
   * @returns the client view of this connection
   */
  handle (stream: Duplex, info: ConnectionInfo = NO_INFO): Client {
    const engine = this.#engine
    const c = new Connection(engine, stream, info)
    if (engine.closed) {
      c.turnAway()
      return c
    }
    if (engine.admit(c)) this.stats.connectionsTotal++
    return c
  }

  /** A new client id for 5.0 clients that sent none [MQTT-3.1.3-6]. */
  assignClientId (): string {
    return 'culex-' + randomUUID()
  }

  /** @internal */
  emitClientError (c: Client, err: BrokerError): void {
    // logged here only when no listener does it (an app that listens logs it once, its way)
    if (this.listenerCount('clientError') > 0) this.emit('clientError', c, err)
    else this.logger.debug({ client: c.id, code: err.code, err: err.message }, 'client error')
  }

  /** @internal */
  storeError (what: string, err: unknown): void {
    const e = new BrokerError('BROKER_ERR_STORE', `store failed while ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    this.logger.error({ err: e.message }, 'store error')
    if (this.listenerCount('error') > 0) this.emit('error', e)
  }

  /**
   * Forget every cached `authorizeRead` answer: call it when the rules behind the hook
   * change (an ACL file reloaded). Later deliveries ask the hook again.
   */
  invalidateAuthorization (): void {
    this.#engine.router.invalidate()
  }

  /**
   * Publish a message as the broker (no client): routed to subscribers and, with `retain`,
   * stored as the retained message of its topic (an empty payload clears it).
   *
   * @returns resolves once retained storage and offline queues have accepted it
   * @throws BrokerError `BROKER_ERR_TOPIC_INVALID` (bad topic), `BROKER_ERR_CLOSED`; TypeError for a bad qos
   */
  async publish (input: PublishInput): Promise<void> {
    if (this.#engine.closed) throw new BrokerError('BROKER_ERR_CLOSED', 'publish: the broker is closed')
    const bad = validateTopic(input.topic, this.topicLimits)
    if (bad !== null) throw new BrokerError('BROKER_ERR_TOPIC_INVALID', `publish: ${bad.message}`, { cause: bad })
    const qos = input.qos ?? 0
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError(`publish: expected qos 0, 1 or 2, got ${String(qos)}`)
    const payload = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload
    let props = input.properties
    let expiresAt: number | undefined
    if (props !== undefined) {
      props = { ...props }
      delete props.topicAlias
      delete props.subscriptionIdentifier
      if (props.messageExpiryInterval !== undefined) expiresAt = this.clock.now() + props.messageExpiryInterval * 1000
    }
    const m = new Routed(input.topic, payload, qos, input.retain ?? false, props, expiresAt, undefined, false)
    await this.#engine.dispatch(m, null)
  }

  /**
   * Stop: every client is disconnected (5.0 clients get DISCONNECT 0x8B Server shutting
   * down), $SYS stops, and a store and bus the broker created itself are closed. Persistent
   * sessions are saved to the store first.
   */
  async close (): Promise<void> {
    const engine = this.#engine
    if (engine.closed) return
    engine.closed = true
    this.#sys?.stop()
    await engine.close()
    if (this.#ownStore) await this.store.close()
    if (this.#ownBus) await this.bus.close()
  }

  /** Whether `close()` was called. */
  get closed (): boolean {
    return this.#engine.closed
  }
}

export { engineOf }
